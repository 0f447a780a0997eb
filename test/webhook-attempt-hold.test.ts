import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTEMPT_HOLD_MS, attemptDelivery } from '../src/core/webhooks/deliver-webhooks.js';
import { dispatchEventTry, type HandedOffDelivery } from '../src/jobs/definitions/dispatch-event.js';
import { DeliverySchedule } from '../src/jobs/local/delivery-schedule.js';
import { startHarness, type Harness } from './support/harness.js';
import { startHeldReceiver, startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

// The harness runs no job side: each test drives dispatches, attempts and schedules itself, as two
// processes would (a `local` one that lost the runner lock and the one that took over, or a BullMQ
// retry beside a redelivery).
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { JOB_PROVIDER: 'local', EXPIRY_SWEEP_EVERY: '1h' } });
});
afterAll(() => h?.close());

const deliveryOf = async (hookId: number) =>
  (
    await h.deps.db.query<{ id: string; attempts: number; status: string; held: boolean }>(
      'select id, attempts, status, sending_until is not null as held from webhook_deliveries where webhook_id = $1',
      [hookId],
    )
  ).map((d) => ({ ...d, id: Number(d.id) }));

/**
 * A banned license's event to a webhook at `rx`, dispatched with no turn at the receiver: its
 * delivery is handed to the schedule unattempted.
 */
async function handedOffDelivery(rx: { url: string }) {
  const s = await h.seller();
  const { app, plan } = await s.setup();
  const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
  const [lic] = await s.generate(plan.id);
  expect((await s.call('POST', `/api/licenses/${lic!.id}/ban`, {})).statusCode).toBe(200);
  const [event] = await h.deps.db.query<{ id: string }>(`select id from outbox where type = 'license.banned' and (payload->'license'->>'id')::int = $1`, [lic!.id]);
  const handedOff: HandedOffDelivery[] = [];
  await dispatchEventTry(h.deps, Number(event!.id), { listeners: [], lastTry: false, turn: async () => null, sendDeliveries: async (d) => void handedOff.push(...d) });
  return { hook, handedOff };
}

describe('a webhook attempt holds its delivery', () => {
  let rx: Awaited<ReturnType<typeof startHeldReceiver>>;
  beforeAll(async () => {
    rx = await startHeldReceiver();
  });
  afterAll(() => rx?.close());

  it('a dispatch lets go of the deliveries it hands to the schedule unattempted', async () => {
    const { hook, handedOff } = await handedOffDelivery(rx);
    const [delivery] = await deliveryOf(hook.id);
    expect(handedOff).toEqual([{ id: delivery!.id, attemptsMade: 0 }]);
    // Not held for the 120 s of a first attempt that was never made: the schedule may send it now.
    expect(delivery).toMatchObject({ attempts: 0, status: 'pending', held: false });
    expect(rx.postsOf(delivery!.id)).toBe(0);
  });

  it('two attempts of one delivery at once (a process that lost the runner lock, and the one that took over): one POST', async () => {
    const { hook } = await handedOffDelivery(rx);
    const [delivery] = await deliveryOf(hook.id);
    // This delivery alone is pending (the schedules below read every pending one).
    await h.deps.db.query(`update webhook_deliveries set status = 'failed' where status = 'pending' and id <> $1`, [delivery!.id]);
    // Each process has the delivery due in its schedule, read from the database.
    const first = new DeliverySchedule(h.deps, { retryBaseMs: 1000, concurrency: 10 });
    const second = new DeliverySchedule(h.deps, { retryBaseMs: 1000, concurrency: 10 });
    await first.load();
    await second.load();
    first.startDue();
    await waitFor(() => rx.postsOf(delivery!.id) === 1 || undefined, 10_000, 'the first POST, in flight');
    expect((await deliveryOf(hook.id))[0]!.held).toBe(true);
    second.startDue();
    await second.settle();
    // Held by the first: the second makes no attempt, and leaves the delivery to the database.
    expect(rx.postsOf(delivery!.id)).toBe(1);
    expect(second.scheduled).toBe(0);
    expect(second.wantsLoad(Date.now() + ATTEMPT_HOLD_MS)).toBe(true);
    rx.release();
    await first.settle();
    expect(await deliveryOf(hook.id)).toEqual([{ id: delivery!.id, attempts: 1, status: 'delivered', held: false }]);
    // Read back after the hold, it is delivered: nothing to attempt, still one POST.
    await second.load();
    expect(second.scheduled).toBe(0);
    expect(rx.postsOf(delivery!.id)).toBe(1);
  });

  it("the attempt that found it held waits the backoff the holder's failed attempt earned, and counts it", async () => {
    // Fails every POST, after 1.5 s (the first attempt is in flight while the second asks).
    const failing = await startReceiver(() => ({ status: 500, delayMs: 1500 }));
    const postsOf = (id: number) => failing.received.filter((r) => r.headers['x-keycord-delivery'] === String(id)).length;
    try {
      const { hook } = await handedOffDelivery(failing);
      const [delivery] = await deliveryOf(hook.id);
      const id = delivery!.id;
      await h.deps.db.query(`update webhook_deliveries set status = 'failed' where status = 'pending' and id <> $1`, [id]);
      // Retry base 60 s: after a failed attempt the next is due 48-72 s later.
      const first = new DeliverySchedule(h.deps, { retryBaseMs: 60_000, concurrency: 10 });
      const second = new DeliverySchedule(h.deps, { retryBaseMs: 60_000, concurrency: 10 });
      await first.load();
      await second.load();
      first.startDue();
      await waitFor(() => postsOf(id) === 1 || undefined, 10_000, 'the first POST, in flight');
      second.startDue();
      await second.settle();
      await first.settle();
      // The second process's passes go on, and it reads the schedule back (as after the hold).
      const failedAt = Date.now();
      while (Date.now() - failedAt < 3000) {
        second.startDue();
        await new Promise((r) => setTimeout(r, 100));
      }
      await second.load();
      second.startDue();
      await second.settle();
      const [row] = await h.deps.db.query<{ attempts: number }>('select attempts from webhook_deliveries where id = $1', [id]);
      expect({ posts: postsOf(id), attempts: row!.attempts }).toEqual({ posts: 1, attempts: 1 });
      // Its next attempt is the recorded one's backoff away, and counts from it.
      second.startDue(Date.now() + 80_000);
      await second.settle();
      const [after] = await h.deps.db.query<{ attempts: number }>('select attempts from webhook_deliveries where id = $1', [id]);
      expect({ posts: postsOf(id), attempts: after!.attempts }).toEqual({ posts: 2, attempts: 2 });
    } finally {
      await failing.close();
    }
  }, 30_000);

  it('an attempt given no turn at its receiver lets its hold go', async () => {
    const { hook } = await handedOffDelivery(rx);
    const [delivery] = await deliveryOf(hook.id);
    expect(await attemptDelivery(h.deps, delivery!.id, { turn: async () => null })).toBe('busy');
    expect((await deliveryOf(hook.id))[0]).toMatchObject({ attempts: 0, held: false });
    expect(await attemptDelivery(h.deps, delivery!.id)).toBe('delivered');
    expect(rx.postsOf(delivery!.id)).toBe(1);
  });
});
