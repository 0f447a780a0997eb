import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWebhookJob, webhookBackoff, WEBHOOK_ATTEMPTS } from '../src/jobs/definitions/deliver-webhook.js';
import { dispatchEventBatch, dispatchEventJob } from '../src/jobs/definitions/dispatch-event.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { startHarness, type Harness } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * BullMQ: a deliver job that finds its delivery held by a re-run dispatch's first attempt ends
 * ('held'), and its finished job keeps the id for a day. When that first attempt fails, the
 * dispatch's hand-off must still schedule the delivery: under the next id of its chain, not a plain
 * add under the held id, which BullMQ drops (leaving it to the reconciler, which passes over a
 * delivery whose event's listeners keep failing).
 */
let h: Harness;
let workerConn: Redis | undefined;
let worker: Worker | undefined;
beforeAll(async () => {
  h = await startHarness({ jobs: 'producer' });
});
afterAll(async () => {
  await worker?.close();
  workerConn?.disconnect();
  await h?.close();
});

describe('a delivery job that found its delivery held, then the holder fails (BullMQ)', () => {
  it("the dispatch's hand-off schedules the next attempt on its backoff, under the next id of the job's chain", async () => {
    // First POST (the re-run dispatch's first attempt) fails slowly; later ones succeed.
    const rx = await startReceiver((_r, n) => (n === 1 ? { status: 500, delayMs: 1500 } : 200));
    try {
      const s = await h.seller();
      const { app } = await s.setup();
      const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
      const [ev] = await h.deps.db.query<{ id: string }>(
        `insert into outbox (application_id, kind, type, payload, relayed_at) values ($1, 'event', 'license.banned', '{"license":{"id":1}}', now()) returning id`,
        [app.id],
      );
      const eventId = Number(ev!.id);
      const specs = jobSpecsFor(h.jobs!.queues, h.jobs!.installationId);
      const ctx = (over: Partial<HandlerContext>): HandlerContext => ({
        deps: h.deps,
        queues: h.jobs!.queues,
        config: { ...h.config.jobs, webhookRetryBaseMs: 50 },
        installation: h.jobs!.installationId,
        specs,
        eventListeners: [],
        stopping: false,
        ...over,
      });
      // Try 1 (a batch): no turn at the receiver -> delivery handed off unattempted (job dlv-…, delay 0);
      // a listener fails -> the event goes on in a job of its own.
      const noTurn = { take: async () => null } as unknown as HandlerContext['receiverTurns'];
      await dispatchEventBatch(
        ctx({
          receiverTurns: noTurn,
          eventListeners: [
            async () => {
              throw new Error('discord away');
            },
          ],
        }),
        [eventId],
      );
      const [delivery] = await h.deps.db.query<{ id: string }>('select id from webhook_deliveries where webhook_id = $1', [hook.id]);
      const deliveryId = Number(delivery!.id);
      const dlvJobId = specs.ids.delivery(deliveryId);
      expect(await (await h.jobs!.queues.webhooks.getJob(dlvJobId))?.getState()).toBe('waiting');

      // Try 2: the event's own job; its fan-out holds the delivery and POSTs the first attempt (slow, fails).
      const evtJob = (await h.jobs!.queues.events.getJob(specs.ids.event(eventId))) as Job;
      expect(evtJob).toBeTruthy();
      const run2 = dispatchEventJob.process(ctx({}), evtJob).catch((e: Error) => e);
      await waitFor(() => rx.received.length === 1 || undefined, 10_000, 'first attempt in flight');

      // Meanwhile a worker runs the deliver job: it finds the delivery held, and completes.
      workerConn = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
      const wctx = ctx({});
      worker = new Worker(h.jobs!.queues.webhooks.name, (job, token) => deliverWebhookJob.process(wctx, job, token), {
        connection: workerConn,
        prefix: h.jobs!.queues.webhooks.opts.prefix,
        concurrency: 5,
        settings: {
          backoffStrategy: (attemptsMade: number, _t?: string, _e?: Error, job?: { opts: { attempts?: number } }) =>
            webhookBackoff(attemptsMade + Math.max(0, WEBHOOK_ATTEMPTS - (job?.opts.attempts ?? WEBHOOK_ATTEMPTS)), 50),
        },
      });
      await waitFor(async () => (await (await h.jobs!.queues.webhooks.getJob(dlvJobId))?.getState()) === 'completed' || undefined, 10_000, 'deliver job completed');
      expect((await h.jobs!.queues.webhooks.getJob(dlvJobId))?.returnvalue).toEqual({ outcome: 'held' });

      // The dispatch's first attempt fails; it records it and hands the delivery off.
      expect(await run2).toEqual({ deliveries: 1 });
      const [row] = await h.deps.db.query<{ attempts: number; status: string }>('select attempts, status from webhook_deliveries where id = $1', [deliveryId]);
      expect(row).toEqual({ attempts: 1, status: 'pending' });

      // Its next attempt is due ~50 ms later (WEBHOOK_RETRY_BASE_MS 50). Give it 5 s.
      const live = async () => (await h.jobs!.queues.webhooks.getJobs(['waiting', 'delayed', 'active', 'prioritized'])).map((j) => j.id);
      const liveAfterHandOff = await live();
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && rx.received.length < 2) await new Promise((r) => setTimeout(r, 100));
      const postsWithoutReconciler = rx.received.length;

      expect({ liveAfterHandOff, postsWithoutReconciler }).toEqual({ liveAfterHandOff: [`${dlvJobId}-2`], postsWithoutReconciler: 2 });
      await waitFor(
        async () => (await h.deps.db.query<{ status: string }>('select status from webhook_deliveries where id = $1', [deliveryId]))[0]!.status === 'delivered' || undefined,
        10_000,
        'delivered',
      );
      // Nothing left for the reconciler, and nothing sent twice.
      expect((await new Reconciler(h.deps, specs, { everyMs: 60_000, webhookRetryBaseMs: 50 }).reconcileOnce()).deliveries).toBe(0);
      expect(rx.received).toHaveLength(2);
    } finally {
      await rx.close();
    }
  }, 60_000);
});
