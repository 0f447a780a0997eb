import { createHmac } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../src/core/deps.js';
import { fanOutEvent, FIRST_ATTEMPT_HOLD_MS } from '../src/core/webhooks/deliver-webhooks.js';
import { createDb, type Db } from '../src/db/client.js';
import { deliverWebhookTry } from '../src/jobs/definitions/deliver-webhook.js';
import { dispatchEventBatch, dispatchEventTry, type HandedOffDelivery } from '../src/jobs/definitions/dispatch-event.js';
import type { HandlerContext } from '../src/jobs/handlers.js';
import { jobSpecsFor } from '../src/jobs/job-specs.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { startHarness, type Harness } from './support/harness.js';
import { startReceiver } from './support/receiver.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * A delivery's first attempt is made by one dispatch, even when two dispatches of its event run at
 * once — two batch jobs of differing ids carrying it (a relay pass whose commit failed, claimed
 * again with more rows), on two workers (two database clients, which share no statement). The
 * receiver answers slowly, so the POSTs of both would be in flight together; it counts the POSTs
 * of each delivery id. No job side runs: the test drives the tries the workers run.
 */
const verify = (secret: string, header: string, body: string) => {
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
  return v1 === createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
};

/** A webhook receiver answering 200 after `delayMs`, counting the POSTs of each delivery id. */
async function countingReceiver(delayMs: number) {
  const rx = await startReceiver(() => ({ status: 200, delayMs }));
  const postsOf = (deliveryId: number) => rx.received.filter((r) => r.headers['x-keycord-delivery'] === String(deliveryId));
  return { ...rx, postsOf };
}

interface DeliveryRow {
  id: number;
  webhook_id: number;
  status: string;
  attempts: number;
  /** Held for a first attempt (sending_until set). */
  sending: boolean;
}

/** The app's events, with two webhooks subscribed to them, and a worker's view of the database. */
async function setting(h: Harness, url: string) {
  const s = await h.seller();
  const { app } = await s.setup();
  const secrets = new Map<number, string>();
  for (let i = 0; i < 2; i++) {
    const res = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: ['license.banned'] });
    expect(res.statusCode).toBe(201);
    secrets.set(res.json().id, res.json().secret);
  }
  /** `count` relayed, undispatched license.banned events, as a ban leaves them: their outbox ids, in order. */
  const events = async (count: number) => {
    const rows = await h.deps.db.query<{ id: string }>(
      `insert into outbox (application_id, kind, type, payload, relayed_at)
       select $1, 'event', 'license.banned', jsonb_build_object('license', jsonb_build_object('id', n)), now() from generate_series(1, $2::int) n
       returning id`,
      [app.id, count],
    );
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  };
  const deliveriesOf = async (eventIds: number[]) =>
    (
      await h.deps.db.query<Omit<DeliveryRow, 'id'> & { id: string }>(
        'select id, webhook_id, status, attempts, sending_until is not null as sending from webhook_deliveries where event_id = any($1::bigint[]) order by id',
        [eventIds],
      )
    ).map((d) => ({ ...d, id: Number(d.id) }));
  return { secrets, events, deliveriesOf };
}

/** `deps` as another worker (or the same one later) sees them: its own database client and clock. */
const worker = (deps: Deps, over: { db?: Db; atMs?: number }): Deps => ({
  ...deps,
  ...(over.db ? { db: over.db } : {}),
  ...(over.atMs !== undefined ? { clock: { now: () => new Date(Date.now() + over.atMs!) } } : {}),
});

const dispatch = (deps: Deps, eventId: number, handedOff: HandedOffDelivery[] = []) =>
  dispatchEventTry(deps, eventId, { listeners: [], lastTry: false, sendDeliveries: async (d) => void handedOff.push(...d) });

/** Each delivery POSTed exactly once, signed with its webhook's secret, and recorded delivered once. */
async function deliveredOnce(rx: Awaited<ReturnType<typeof countingReceiver>>, list: DeliveryRow[], secrets: Map<number, string>) {
  for (const d of list) {
    const posts = rx.postsOf(d.id);
    expect(posts, `POSTs of delivery ${d.id}`).toHaveLength(1);
    expect(verify(secrets.get(d.webhook_id)!, String(posts[0]!.headers['x-keycord-signature']), posts[0]!.body)).toBe(true);
    expect(d).toMatchObject({ status: 'delivered', attempts: 1, sending: false });
  }
}

describe('on Postgres, two workers', () => {
  let h: Harness;
  let otherDb: Db;
  let rx: Awaited<ReturnType<typeof countingReceiver>>;
  let w: Awaited<ReturnType<typeof setting>>;

  beforeAll(async () => {
    h = await startHarness({ jobs: 'producer' });
    // The other worker's client: its statements are its own, never merged with this one's (coalesce.ts).
    otherDb = await createDb({ databaseUrl: h.databaseUrl, dataDir: h.config.dataDir, poolSize: 5 });
    rx = await countingReceiver(150);
    w = await setting(h, rx.url);
  });
  afterAll(async () => {
    await otherDb?.close();
    await rx?.close();
    await h?.close();
  });

  const context = (deps: Deps): HandlerContext => ({
    deps,
    queues: h.jobs!.queues,
    config: h.config.jobs,
    installation: h.jobs!.installationId,
    specs: jobSpecsFor(h.jobs!.queues, h.jobs!.installationId),
    eventListeners: [],
    stopping: false,
  });

  it('two batch jobs of differing ids carrying the same events, on two workers at once: each delivery is POSTed once', async () => {
    const ids = await w.events(12);
    // The first pass's last batch, and the one claimed again with two more rows.
    const first = ids.slice(0, 10);
    await Promise.all([dispatchEventBatch(context(h.deps), first), dispatchEventBatch(context(worker(h.deps, { db: otherDb })), ids)]);
    const list = await w.deliveriesOf(ids);
    expect(list).toHaveLength(ids.length * 2);
    await deliveredOnce(rx, list, w.secrets);
    const [undispatched] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from outbox where id = any($1::bigint[]) and dispatched_at is null', [ids]);
    expect(undispatched!.n).toBe(0);
  });

  it('dispatches of one event at once, in one process (one statement) and on two workers: each delivery is POSTed once', async () => {
    const ids = await w.events(10);
    const other = worker(h.deps, { db: otherDb });
    const handedOff: HandedOffDelivery[] = [];
    await Promise.all(ids.flatMap((id) => [dispatch(h.deps, id, handedOff), dispatch(h.deps, id, handedOff), dispatch(other, id, handedOff), dispatch(other, id, handedOff)]));
    expect(handedOff).toEqual([]);
    await deliveredOnce(rx, await w.deliveriesOf(ids), w.secrets);
  });

  it('deliveries already there, whose hold is over, taken by two workers at once: each is POSTed once', async () => {
    const ids = await w.events(3);
    // Dispatches that crashed after their fan-out: the deliveries are there, held, never attempted.
    for (const id of ids) expect((await fanOutEvent(h.deps, id)).pending).toHaveLength(2);
    expect(rx.received.filter((r) => ids.some((id) => r.body.includes(`"evt_${id}"`)))).toEqual([]);
    // Later, both workers' fan-outs find them free in their snapshots, and wait on the rows (locked
    // here) until both are in flight: then the row locks decide which one takes them.
    const later = FIRST_ATTEMPT_HOLD_MS + 1000;
    const a = worker(h.deps, { atMs: later });
    const b = worker(h.deps, { db: otherDb, atMs: later });
    const locker = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      let race: Promise<unknown> | undefined;
      await locker.begin(async (tx) => {
        await tx.unsafe('select id from webhook_deliveries where event_id = any($1::bigint[]) for update', [ids]);
        race = Promise.all(ids.flatMap((id) => [dispatch(a, id), dispatch(b, id)]));
        await untilLockWaiters(h.deps.db, 2, "both fan-outs waiting on the deliveries' rows");
      });
      await race;
    } finally {
      await locker.end();
    }
    await deliveredOnce(rx, await w.deliveriesOf(ids), w.secrets);
  });

  it('a dispatch that crashed after its fan-out: nothing is sent again while its hold runs, then exactly once', async () => {
    const [eventId] = await w.events(1);
    const { pending, holdUntil } = await fanOutEvent(h.deps, eventId!);
    expect(pending).toHaveLength(2);
    expect(holdUntil.getTime() - Date.now()).toBeGreaterThan(FIRST_ATTEMPT_HOLD_MS - 5000);

    // Its job retried (or the batch relayed again) before the hold is over: nothing to send, and the
    // event is marked dispatched, which hands its deliveries to the reconciler once the hold is over.
    const handedOff: HandedOffDelivery[] = [];
    expect(await dispatch(worker(h.deps, { db: otherDb, atMs: FIRST_ATTEMPT_HOLD_MS - 5000 }), eventId!, handedOff)).toEqual({ deliveries: 0 });
    expect(handedOff).toEqual([]);
    const [event] = await h.deps.db.query<{ dispatched: boolean }>('select dispatched_at is not null as dispatched from outbox where id = $1', [eventId]);
    expect(event!.dispatched).toBe(true);

    const specs = jobSpecsFor(h.jobs!.queues, h.jobs!.installationId);
    const reconcilerAt = (atMs: number) => new Reconciler(worker(h.deps, { atMs }), specs, { everyMs: 60_000, webhookRetryBaseMs: 50 });
    await h.jobs!.queues.webhooks.obliterate({ force: true });
    expect((await reconcilerAt(FIRST_ATTEMPT_HOLD_MS - 5000).reconcileOnce()).deliveries).toBe(0);
    expect(await h.jobs!.queues.webhooks.getJobs(['waiting', 'delayed'])).toEqual([]);

    // The hold is over: the reconciler adds one job per delivery, which sends it once.
    expect((await reconcilerAt(FIRST_ATTEMPT_HOLD_MS + 1000).reconcileOnce()).deliveries).toBe(2);
    const jobs = await h.jobs!.queues.webhooks.getJobs(['waiting', 'delayed']);
    expect(jobs.map((j) => j.id).sort()).toEqual(pending.map((d) => specs.ids.delivery(d.id)).sort());
    // Each job runs once the hold is over (its delay); while it runs, the delivery is held for it alone.
    for (const job of jobs) {
      const deliveryId = (job.data as { delivery_id: number }).delivery_id;
      expect(await deliverWebhookTry(h.deps, deliveryId, { lastTry: false })).toBe('held');
      expect(await deliverWebhookTry(worker(h.deps, { atMs: FIRST_ATTEMPT_HOLD_MS + 1000 }), deliveryId, { lastTry: false })).toBe('delivered');
    }
    // Nor does anything else send it again: a late dispatch, or the reconciler's next pass.
    expect(await dispatch(worker(h.deps, { atMs: 3 * FIRST_ATTEMPT_HOLD_MS }), eventId!)).toEqual({ deliveries: 0 });
    expect((await reconcilerAt(3 * FIRST_ATTEMPT_HOLD_MS).reconcileOnce()).deliveries).toBe(0);
    await deliveredOnce(rx, await w.deliveriesOf([eventId!]), w.secrets);
  });

  it('a first attempt whose turn comes too late in its hold is left to the schedule, not POSTed by the dispatch', async () => {
    const [eventId] = await w.events(1);
    // The dispatch's clock jumps past the start margin between its fan-out and its POSTs (they waited their turn).
    let now = Date.now();
    const slow: Deps = { ...h.deps, clock: { now: () => new Date(now) } };
    const handedOff: HandedOffDelivery[] = [];
    const limitSend = async <T>(send: () => Promise<T>) => {
      now += FIRST_ATTEMPT_HOLD_MS - 1000;
      return send();
    };
    await dispatchEventTry(slow, eventId!, { listeners: [], lastTry: false, limitSend, sendDeliveries: async (d) => void handedOff.push(...d) });
    const list = await w.deliveriesOf([eventId!]);
    expect(handedOff.sort((x, y) => x.id - y.id)).toEqual(list.map((d) => ({ id: d.id, attemptsMade: 0 })));
    for (const d of list) expect(rx.postsOf(d.id)).toEqual([]);
    // The schedule's attempt sends it once, and lets the hold go.
    for (const d of list) expect(await deliverWebhookTry(h.deps, d.id, { lastTry: false })).toBe('delivered');
    await deliveredOnce(rx, await w.deliveriesOf([eventId!]), w.secrets);
  });
});

describe('on the embedded database (PGlite)', () => {
  let h: Harness;
  let rx: Awaited<ReturnType<typeof countingReceiver>>;
  let w: Awaited<ReturnType<typeof setting>>;

  beforeAll(async () => {
    h = await startHarness({ database: 'pglite' });
    rx = await countingReceiver(50);
    w = await setting(h, rx.url);
  });
  afterAll(async () => {
    await rx?.close();
    await h?.close();
  });

  it('dispatches of one event at once POST each delivery once; one that crashed after its fan-out is sent by a later one only once its hold is over', async () => {
    const ids = await w.events(5);
    await Promise.all(ids.flatMap((id) => [dispatch(h.deps, id), dispatch(h.deps, id)]));
    await deliveredOnce(rx, await w.deliveriesOf(ids), w.secrets);

    const [crashed] = await w.events(1);
    expect((await fanOutEvent(h.deps, crashed!)).pending).toHaveLength(2);
    expect(await dispatch(worker(h.deps, { atMs: FIRST_ATTEMPT_HOLD_MS - 5000 }), crashed!)).toEqual({ deliveries: 0 });
    expect(await dispatch(worker(h.deps, { atMs: FIRST_ATTEMPT_HOLD_MS + 1000 }), crashed!)).toEqual({ deliveries: 2 });
    await deliveredOnce(rx, await w.deliveriesOf([crashed!]), w.secrets);
  });
});
