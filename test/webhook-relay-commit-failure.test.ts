import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { outbox } from '../src/db/schema.js';
import { dispatchEventBatch, dispatchEventJob, type EventListener } from '../src/jobs/definitions/dispatch-event.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { OutboxRelay } from '../src/jobs/outbox-relay.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * The relay enqueues a pass's event batches, then commits their relay marks. When that commit
 * fails after the jobs are in Redis, the rows are claimed again by the next pass — by then some of
 * them dispatched by the first batch, so the second pass makes a batch of other rows, under another
 * id, while the first batch is still running. Each event must still have its webhook deliveries
 * sent once and its listeners (the Discord notices) run once. No worker runs here: the test relays
 * and runs the batch tries the workers would, in the order the race takes.
 */
let h: Harness;
let s: Seller;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let planId: number;
let applicationId: number;

beforeAll(async () => {
  h = await startHarness({ jobs: 'producer' });
  rx = await startReceiver(() => 200);
  s = await h.seller();
  const { app, plan } = await s.setup();
  planId = plan.id;
  applicationId = app.id;
  expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).statusCode).toBe(201);
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

const specs = () => jobSpecsFor(h.jobs!.queues, h.jobs!.installationId);

/** `count` committed, unrelayed license.banned events (and nothing else pending): their outbox ids. */
async function bans(count: number): Promise<number[]> {
  const licenses = await s.generate(planId, count);
  await h.deps.db.query('update outbox set relayed_at = coalesce(relayed_at, now()), dispatched_at = coalesce(dispatched_at, now())');
  await h.jobs!.queues.events.obliterate({ force: true });
  for (const l of licenses) expect((await s.call('POST', `/api/licenses/${l.id}/ban`, {})).statusCode).toBe(200);
  const rows = await h.deps.db.query<{ id: string }>(`select id::text from outbox where application_id = $1 and type = 'license.banned' and relayed_at is null order by id`, [applicationId]);
  return rows.map((r) => Number(r.id));
}

/** Runs `relayOnce` with its transaction failing once its work is done: the jobs are in Redis, the marks roll back. */
async function relayWithFailedCommit(relay: OutboxRelay) {
  const orm = h.deps.db.orm as unknown as { transaction: (fn: (tx: unknown) => Promise<unknown>, config?: unknown) => Promise<unknown> };
  const real = orm.transaction;
  orm.transaction = (fn, config) =>
    real.call(
      orm,
      async (tx) => {
        await fn(tx);
        throw new Error('connection lost at commit');
      },
      config,
    );
  try {
    await expect(relay.relayOnce()).rejects.toThrow('connection lost at commit');
  } finally {
    orm.transaction = real;
  }
}

const batchJobs = async () =>
  (await h.jobs!.queues.events.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.id?.startsWith('evb-')).map((j) => (j.data as { outbox_ids: number[] }).outbox_ids);

describe('a relay pass whose commit fails after its jobs are enqueued', () => {
  it("runs each event's listeners once and sends each delivery once, though its rows are relayed again in another batch while the first runs", async () => {
    const [first, second] = await bans(2);
    const relay = new OutboxRelay(h.deps, specs(), { pollMs: 1000 });
    await relayWithFailedCommit(relay);
    expect(await batchJobs()).toEqual([[first, second]]);
    const [unmarked] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from outbox where id = any($1::bigint[]) and relayed_at is null', [[first, second]]);
    expect(unmarked!.n).toBe(2);

    // The Discord notices: the second event's are slow (Discord rate-limits), so its dispatch is still running when the rows are relayed again.
    const heard: number[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const listener: EventListener = async (e: typeof outbox.$inferSelect) => {
      heard.push(e.id);
      if (e.id === second && heard.filter((id) => id === second).length === 1) await slow;
    };
    const ctx: HandlerContext = {
      deps: h.deps,
      queues: h.jobs!.queues,
      config: h.config.jobs,
      installation: h.jobs!.installationId,
      specs: specs(),
      eventListeners: [listener],
      stopping: false,
    };
    // A worker takes the first pass's batch at once (before the commit failed).
    const firstBatch = dispatchEventBatch(ctx, [first!, second!]);
    await waitFor(
      async () => {
        const [row] = await h.deps.db.query<{ dispatched: boolean }>('select dispatched_at is not null as dispatched from outbox where id = $1', [first]);
        return row!.dispatched && heard.includes(second!);
      },
      10_000,
      'the first event dispatched and the second in its listeners',
    );

    // The next pass claims both rows again: the first is dispatched, so the second goes in a batch of its own.
    expect(await relay.relayOnce()).toBe(2);
    const batches = await batchJobs();
    expect(batches).toContainEqual([second]);
    // Another worker runs that batch while the first is still in the second event's listeners.
    await dispatchEventBatch(ctx, [second!]);
    release();
    await firstBatch;
    // Whatever the second batch left to a job of its own runs too, once the first is over.
    const own = await h.jobs!.queues.events.getJob(specs().ids.event(second!));
    if (own) await dispatchEventJob.process(ctx, own as Job);

    expect(heard.filter((id) => id === first)).toHaveLength(1);
    expect(heard.filter((id) => id === second)).toHaveLength(1);
    const deliveries = await h.deps.db.query<{ id: string; status: string; attempts: number }>(
      'select id::text, status, attempts from webhook_deliveries where event_id = any($1::bigint[]) order by id',
      [[first, second]],
    );
    expect(deliveries.map((d) => ({ status: d.status, attempts: d.attempts }))).toEqual([
      { status: 'delivered', attempts: 1 },
      { status: 'delivered', attempts: 1 },
    ]);
    for (const d of deliveries) expect(rx.received.filter((r) => r.headers['x-keycord-delivery'] === d.id)).toHaveLength(1);
    const [undispatched] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from outbox where id = any($1::bigint[]) and dispatched_at is null', [[first, second]]);
    expect(undispatched!.n).toBe(0);
  });
});
