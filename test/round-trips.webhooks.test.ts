import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptDelivery } from '../src/core/webhooks/deliver-webhooks.js';
import { dispatchEventTry, type HandedOffDelivery } from '../src/jobs/definitions/dispatch-event.js';
import { claimOutboxRows } from '../src/jobs/local/outbox-claim.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver } from './support/receiver.js';

/**
 * Round-trip budgets of webhook delivery, counted on the wire between Keycord and Postgres
 * (deterministic, unlike time): a change that adds a round trip to one of them fails here. No job
 * side runs: the test drives the same tries the providers run.
 *
 * An event whose receiver answers 2xx costs three: read the event, fan out (the deliveries with
 * what sending them takes), record the attempts with the dispatch mark; two when the local
 * provider's claim has already read the event with the rows it took. A later attempt (a retry,
 * a redelivery) costs two: read the delivery with its webhook, record.
 */
const DISPATCH_BUDGET = 3;
const LOCAL_DISPATCH_BUDGET = 2;
const ATTEMPT_BUDGET = 2;

let h: Harness;
let s: Seller;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let failing = false;
let applicationId: number;
let planId: number;

beforeAll(async () => {
  h = await startHarness({ countRoundTrips: true });
  rx = await startReceiver(() => (failing ? 503 : 200));
  s = await h.seller();
  const { app, plan } = await s.setup();
  applicationId = app.id;
  planId = plan.id;
  expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).statusCode).toBe(201);
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

/** A committed license.banned event, as a ban leaves it: its outbox row id. */
async function bannedEvent(): Promise<number> {
  const [lic] = await s.generate(planId);
  expect((await s.call('POST', `/api/licenses/${lic!.id}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);
  const [row] = await h.deps.db.query<{ id: string }>(`select id from outbox where application_id = $1 and type = 'license.banned' and payload->'license'->>'id' = $2`, [
    applicationId,
    String(lic!.id),
  ]);
  return Number(row!.id);
}

const dispatch = (eventId: number, handedOff: HandedOffDelivery[] = []) => dispatchEventTry(h.deps, eventId, { listeners: [], lastTry: false, sendDeliveries: async (d) => void handedOff.push(...d) });

const deliveryOf = async (eventId: number) =>
  (await h.deps.db.query<{ id: string; status: string; attempts: number }>('select id, status, attempts from webhook_deliveries where event_id = $1', [eventId]))[0]!;

describe('database round trips of webhook delivery', () => {
  it(`an event delivered on its first attempt costs at most ${DISPATCH_BUDGET} round trips, dispatch mark included`, async () => {
    await dispatch(await bannedEvent()); // warm: the first use of a statement on a connection pays a Describe
    const eventId = await bannedEvent();
    const before = rx.received.length;
    const cost = await h.roundTrips!.measure(() => dispatch(eventId));
    expect(cost.roundTrips).toBeLessThanOrEqual(DISPATCH_BUDGET);
    expect(rx.received.length).toBe(before + 1);
    expect(await deliveryOf(eventId)).toMatchObject({ status: 'delivered', attempts: 1 });
    const [event] = await h.deps.db.query<{ dispatched: boolean }>('select dispatched_at is not null as dispatched from outbox where id = $1', [eventId]);
    expect(event!.dispatched).toBe(true);
    const attempts = await h.deps.db.query<{ status_code: number }>('select a.status_code from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.event_id = $1', [eventId]);
    expect(attempts).toEqual([{ status_code: 200 }]);
  });

  it(`an event the local provider has just read with its claim costs ${LOCAL_DISPATCH_BUDGET}: fan out, record`, async () => {
    const warm = await bannedEvent();
    const eventId = await bannedEvent();
    const { undispatched } = await claimOutboxRows(h.deps, 200);
    const row = (id: number) => undispatched.find((e) => e.id === id)!;
    await dispatchEventTry(h.deps, warm, { listeners: [], lastTry: false, event: row(warm), sendDeliveries: async () => {} });
    const before = rx.received.length;
    const cost = await h.roundTrips!.measure(() => dispatchEventTry(h.deps, eventId, { listeners: [], lastTry: false, event: row(eventId), sendDeliveries: async () => {} }));
    expect(cost.roundTrips).toBeLessThanOrEqual(LOCAL_DISPATCH_BUDGET);
    expect(rx.received.length).toBe(before + 1);
    expect(await deliveryOf(eventId)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it(`a failed first attempt is recorded within the same budget and handed to the schedule with its attempt counted`, async () => {
    failing = true;
    try {
      const eventId = await bannedEvent();
      const handedOff: HandedOffDelivery[] = [];
      const cost = await h.roundTrips!.measure(() => dispatch(eventId, handedOff));
      expect(cost.roundTrips).toBeLessThanOrEqual(DISPATCH_BUDGET);
      const delivery = await deliveryOf(eventId);
      expect(delivery).toMatchObject({ status: 'pending', attempts: 1 });
      expect(handedOff).toEqual([{ id: Number(delivery.id), attemptsMade: 1 }]);
    } finally {
      failing = false;
    }
  });

  it(`a later attempt (retry or redelivery) costs at most ${ATTEMPT_BUDGET} round trips`, async () => {
    failing = true;
    const warmEvent = await bannedEvent();
    const eventId = await bannedEvent();
    await dispatch(warmEvent);
    await dispatch(eventId);
    failing = false;
    const warm = await deliveryOf(warmEvent);
    expect(await attemptDelivery(h.deps, Number(warm.id))).toBe('delivered');
    const { id } = await deliveryOf(eventId);
    let outcome: string | undefined;
    const cost = await h.roundTrips!.measure(async () => (outcome = await attemptDelivery(h.deps, Number(id))));
    expect(outcome).toBe('delivered');
    expect(cost.roundTrips).toBeLessThanOrEqual(ATTEMPT_BUDGET);
    expect(await deliveryOf(eventId)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('events dispatched at once share their statements: fewer round trips than one dispatch each', async () => {
    const events = async () => {
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push(await bannedEvent());
      return ids;
    };
    // Warm: several pool connections run these statements at once; each pays its Describe once.
    const warm = await events();
    await Promise.all(warm.map((id) => dispatch(id)));
    const ids = await events();
    const cost = await h.roundTrips!.measure(() => Promise.all(ids.map((id) => dispatch(id))));
    // Alone, ten dispatches run 30 statements in 30 round trips. Shared: the reads and the fan-outs
    // are called in the same turn of the event loop, so each goes in one statement; the records
    // follow the answers as they come, at most one each (answers read together share one: 3 in all here, usually).
    expect(cost.statements).toBeLessThanOrEqual(1 + 1 + ids.length);
    expect(cost.roundTrips).toBeLessThanOrEqual(1 + 1 + ids.length);
    for (const id of ids) expect(await deliveryOf(id)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('the local provider takes a batch of outbox rows in one statement', async () => {
    await bannedEvent();
    await claimOutboxRows(h.deps, 200);
    await bannedEvent();
    await bannedEvent();
    let claimed = 0;
    const cost = await h.roundTrips!.measure(async () => (claimed = (await claimOutboxRows(h.deps, 200)).claimed.length));
    expect(claimed).toBeGreaterThanOrEqual(2);
    expect(cost.statements).toBe(1);
    // One round trip, or two on a pool connection that had not run it yet (its Describe).
    expect(cost.roundTrips).toBeLessThanOrEqual(2);
  });
});
