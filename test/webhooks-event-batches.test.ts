import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { outbox } from '../src/db/schema.js';
import { dispatchEventBatch, dispatchEventJob, EVENTS_PER_BATCH, type EventListener } from '../src/jobs/definitions/dispatch-event.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { Limiter } from '../src/jobs/limiter.js';
import { OutboxRelay } from '../src/jobs/outbox-relay.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

/**
 * The relay hands events to the workers in batch jobs (one BullMQ job per EVENTS_PER_BATCH events).
 * No worker runs here: the test relays, reconciles and runs batch tries itself, and looks at what
 * the queue and the database hold after each step.
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

/** What a worker hands its batch tries, with these listeners (the Discord notices). */
const handlerContext = (eventListeners: EventListener[]): HandlerContext => ({
  deps: h.deps,
  queues: h.jobs!.queues,
  config: h.config.jobs,
  installation: h.jobs!.installationId,
  specs: specs(),
  eventListeners,
  stopping: false,
});

/** Every event so far taken care of, and the events queue empty: each test relays its own rows only. */
async function settle() {
  await h.deps.db.query('update outbox set relayed_at = coalesce(relayed_at, now()), dispatched_at = coalesce(dispatched_at, now())');
  await h.jobs!.queues.events.obliterate({ force: true });
}

/** `count` committed license.banned events, as bans leave them (and nothing else pending): their outbox ids, in order. */
async function bans(count: number): Promise<number[]> {
  const licenses = await s.generate(planId, count);
  await settle();
  for (const l of licenses) expect((await s.call('POST', `/api/licenses/${l.id}/ban`, {})).statusCode).toBe(200);
  const rows = await h.deps.db.query<{ id: string }>(
    `select id::text from outbox where application_id = $1 and type = 'license.banned' and (payload->'license'->>'id')::bigint = any($2::bigint[]) order by outbox.id`,
    [applicationId, licenses.map((l) => l.id)],
  );
  return rows.map((r) => Number(r.id));
}

/** The event batch jobs the events queue holds, with the ids each carries. */
async function batchJobs() {
  const jobs = await h.jobs!.queues.events.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
  return jobs
    .filter((j) => j.id?.startsWith('evb-'))
    .map((j) => ({ id: j.id!, outboxIds: (j.data as { outbox_ids: number[] }).outbox_ids }))
    .sort((a, b) => a.outboxIds[0]! - b.outboxIds[0]!);
}

const clearEventsQueue = () => h.jobs!.queues.events.obliterate({ force: true });

async function undispatched(ids: number[]): Promise<number[]> {
  const rows = await h.deps.db.query<{ id: string }>('select id::text from outbox where id = any($1::bigint[]) and dispatched_at is null order by outbox.id', [ids]);
  return rows.map((r) => Number(r.id));
}

describe('event batches', () => {
  it(`the relay puts up to ${EVENTS_PER_BATCH} events in one job, and the same rows relayed again make no second job`, async () => {
    const ids = await bans(EVENTS_PER_BATCH + 3);
    const relay = new OutboxRelay(h.deps, specs(), { pollMs: 1000 });
    expect(await relay.relayOnce()).toBeGreaterThanOrEqual(ids.length);
    const first = await batchJobs();
    expect(first.map((b) => b.outboxIds.length)).toEqual([EVENTS_PER_BATCH, 3]);
    expect(first.flatMap((b) => b.outboxIds)).toEqual(ids);

    // As after a relay pass whose commit failed once its jobs were in: the same rows, claimed again.
    await h.deps.db.query('update outbox set relayed_at = null where id = any($1::bigint[])', [ids]);
    await relay.relayOnce();
    expect(await batchJobs()).toEqual(first);
  });

  it('the reconciler leaves events to their live batch, and adds a job of their own for those whose batch is lost', async () => {
    const ids = await bans(3);
    await new OutboxRelay(h.deps, specs(), { pollMs: 1000 }).relayOnce();
    const reconciler = new Reconciler(h.deps, specs(), { everyMs: 60_000, webhookRetryBaseMs: 50 });
    expect((await reconciler.reconcileOnce()).events).toBe(0);

    // Redis loses the batch: each event gets a job of its own, once.
    await clearEventsQueue();
    expect((await reconciler.reconcileOnce()).events).toBe(ids.length);
    expect((await reconciler.reconcileOnce()).events).toBe(0);
    for (const id of ids) expect(await h.jobs!.queues.events.getJob(specs().ids.event(id))).toBeDefined();
  });

  it('a batch delivers each event once; an event whose try fails goes on in a job of its own, and a retry repeats nothing', async () => {
    const ids = await bans(4);
    const failing = ids[2]!;
    // The Discord notices of one event fail (a listener throws): that event alone is retried.
    const ctx = handlerContext([
      async (e) => {
        if (e.id === failing) throw new Error('discord away');
      },
    ]);
    const before = rx.received.length;
    expect(await dispatchEventBatch(ctx, ids)).toEqual({ events: 4, handedOff: 1 });
    const deliveryIds = rx.received.slice(before).map((r) => String(r.headers['x-keycord-delivery']));
    expect(deliveryIds).toHaveLength(4);
    expect(new Set(deliveryIds).size).toBe(4);
    expect(await undispatched(ids)).toEqual([failing]);
    const own = await h.jobs!.queues.events.getJob(specs().ids.event(failing));
    expect(own?.data).toMatchObject({ outbox_id: failing });
    expect(await own!.getState()).toBe('delayed');

    // The batch tried again (its job retried): the dispatched events are skipped, the failing one's
    // delivery is not sent again (it was delivered), and its own job is not added twice.
    expect(await dispatchEventBatch(ctx, ids)).toEqual({ events: 4, handedOff: 1 });
    expect(rx.received.length).toBe(before + 4);
    const rows = await h.deps.db.query<{ status: string; attempts: number }>('select status, attempts from webhook_deliveries where event_id = any($1::bigint[])', [ids]);
    expect(rows).toEqual(Array.from({ length: 4 }, () => ({ status: 'delivered', attempts: 1 })));
    expect((await h.jobs!.queues.events.getJobs(['delayed'])).filter((j) => j.id?.startsWith(specs().ids.event(failing)))).toHaveLength(1);
  });
});

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

/**
 * The relay enqueues a pass's event batches, then commits their relay marks. When that commit
 * fails after the jobs are in Redis, the rows are claimed again by the next pass — by then some of
 * them dispatched by the first batch, so the second pass makes a batch of other rows, under another
 * id, while the first batch is still running. Each event must still have its webhook deliveries
 * sent once and its listeners (the Discord notices) run once.
 */
describe('a relay pass whose commit fails after its jobs are enqueued', () => {
  it("runs each event's listeners once and sends each delivery once, though its rows are relayed again in another batch while the first runs", async () => {
    const [first, second] = await bans(2);
    const relay = new OutboxRelay(h.deps, specs(), { pollMs: 1000 });
    await relayWithFailedCommit(relay);
    expect((await batchJobs()).map((b) => b.outboxIds)).toEqual([[first, second]]);
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
    const ctx = handlerContext([listener]);
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
    expect((await batchJobs()).map((b) => b.outboxIds)).toContainEqual([second]);
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

describe("Limiter (the POSTs of a process's batches)", () => {
  it('runs at most its bound at once, the others in the order they came, and frees a slot whatever a task does', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 2500 }, (_, i) =>
        limiter.run(async () => {
          started.push(i);
          most = Math.max(most, ++running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
          if (i % 7 === 0) throw new Error('a failed POST');
          return i;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(started).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(Math.ceil(2500 / 7));
    expect(results[1]).toEqual({ status: 'fulfilled', value: 1 });
  });
});
