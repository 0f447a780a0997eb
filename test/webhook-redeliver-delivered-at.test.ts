import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptDelivery, markFailed } from '../src/core/webhooks/deliver-webhooks.js';
import { dispatchEventTry } from '../src/jobs/definitions/dispatch-event.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver } from './support/receiver.js';

/**
 * A delivery's status and its delivered_at tell one story: a delivery sent again is pending, so it
 * shows no delivered_at until the redelivery succeeds, while the earlier success stays in its
 * attempt log. No job side runs: the test makes the attempts a worker would.
 */
let h: Harness;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let answer = 200;
beforeAll(async () => {
  h = await startHarness();
  rx = await startReceiver(() => answer);
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

type DeliveryView = { id: number; status: string; attempts: number; delivered_at: string | null; attempt_log: { status_code: number | null }[] };

const listed = async (s: Seller, hookId: number) => ((await s.call('GET', `/api/webhooks/${hookId}/deliveries`)).json() as DeliveryView[])[0]!;

/** Deliveries whose status and delivered_at disagree, in the whole table. */
const disagreeing = async () => (await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where (status = 'delivered') <> (delivered_at is not null)`))[0]!.n;

describe('a delivered webhook delivery sent again', () => {
  it('is pending with no delivered_at until the redelivery succeeds, and keeps its earlier success in the attempt log', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
    const { event_id } = (await s.call('POST', `/api/webhooks/${hook.id}/test`)).json() as { event_id: number };
    await h.deps.db.query('update outbox set relayed_at = now() where id = $1', [event_id]);
    await dispatchEventTry(h.deps, event_id, { listeners: [], lastTry: false, sendDeliveries: async () => {} });
    const first = await listed(s, hook.id);
    expect(first).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(first.delivered_at).not.toBeNull();

    // The receiver now fails: the redelivery stays pending, then fails, never "delivered".
    answer = 500;
    const again = await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${first.id}/redeliver`);
    expect(again.statusCode).toBe(202);
    expect(again.json().delivery).toMatchObject({ status: 'pending', delivered_at: null });
    expect(await listed(s, hook.id)).toMatchObject({ status: 'pending', delivered_at: null, attempt_log: [{ status_code: 200 }] });
    expect(await attemptDelivery(h.deps, first.id)).toBe('retry');
    expect(await listed(s, hook.id)).toMatchObject({ status: 'pending', delivered_at: null, attempts: 2, attempt_log: [{ status_code: 200 }, { status_code: 500 }] });
    await markFailed(h.deps, first.id, { alert: false });
    expect(await listed(s, hook.id)).toMatchObject({ status: 'failed', delivered_at: null });
    expect(await disagreeing()).toBe(0);

    // Sent again, and this time received: delivered, at the time of this success.
    answer = 200;
    expect((await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${first.id}/redeliver`)).statusCode).toBe(202);
    expect(await attemptDelivery(h.deps, first.id)).toBe('delivered');
    const last = await listed(s, hook.id);
    expect(last).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(Date.parse(last.delivered_at!)).toBeGreaterThan(Date.parse(first.delivered_at!));
    expect(await disagreeing()).toBe(0);
  });
});
