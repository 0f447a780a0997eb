import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitEvent } from '../src/core/events/emit-event.js';
import { dispatchEventBatch } from '../src/jobs/definitions/dispatch-event.js';
import { webhookConcurrency } from '../src/jobs/definitions/deliver-webhook.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { startHarness, type Harness } from './support/harness.js';
import { startHeldReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * A BullMQ event batch whose first attempts outnumber the process's webhook slots queues the rest
 * for a slot. A stop must not let those start: behind receivers that never answer, each wave held
 * the stop for a webhook time-out more.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jobs: 'producer' });
});
afterAll(() => h?.close());

describe('an event batch when the job system stops', () => {
  it('starts no first attempt queued for a slot: those go to the retry schedule, and the events are dispatched', async () => {
    const rx = await startHeldReceiver();
    try {
      const s = await h.seller();
      const { app } = await s.setup();
      expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).statusCode).toBe(201);
      const config = { ...h.config.jobs, workerConcurrency: 1 };
      const slots = webhookConcurrency(config);
      const ids: number[] = [];
      for (let i = 0; i < slots + 5; i++) ids.push(await emitEvent(h.deps.db.orm, app.id, 'license.banned', { license: { id: i + 1 } }));
      const ctx: HandlerContext = {
        deps: h.deps,
        queues: h.jobs!.queues,
        config,
        installation: h.jobs!.installationId,
        specs: jobSpecsFor(h.jobs!.queues, h.jobs!.installationId),
        eventListeners: [],
        stopping: false,
      };
      const batch = dispatchEventBatch(ctx, ids);
      await waitFor(() => rx.held() === slots, 10_000, 'every slot to hold a POST');
      ctx.stopping = true;
      rx.release();
      expect(await batch).toEqual({ events: ids.length, handedOff: 0 });
      // Past the moment the queued POSTs would have started.
      await new Promise((r) => setTimeout(r, 300));
      expect(rx.received).toHaveLength(slots);
      const rows = await h.deps.db.query<{ status: string; attempts: number; n: number }>(
        `select d.status, d.attempts, count(*)::int as n from webhook_deliveries d where d.event_id = any($1::bigint[]) group by 1, 2 order by 1`,
        [ids],
      );
      expect(rows).toEqual([
        { status: 'delivered', attempts: 1, n: slots },
        { status: 'pending', attempts: 0, n: 5 },
      ]);
      // Left to the retry schedule: their jobs are in the queue.
      expect(await h.jobs!.queues.webhooks.getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBeGreaterThanOrEqual(5);
      const [undispatched] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from outbox where id = any($1::bigint[]) and dispatched_at is null', [ids]);
      expect(undispatched!.n).toBe(0);
    } finally {
      rx.release();
      await rx.close();
    }
  });
});
