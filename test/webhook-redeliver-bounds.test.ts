import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptDelivery } from '../src/core/webhooks/deliver-webhooks.js';
import { MAX_ATTEMPTS_KEPT } from '../src/core/webhooks/delivery-statements.js';
import { dispatchEventTry } from '../src/jobs/definitions/dispatch-event.js';
import { WEBHOOK_ATTEMPTS } from '../src/jobs/definitions/deliver-webhook.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { startReceiver } from './support/receiver.js';

/**
 * What a seller can make a delivery hold by asking for it again and again: a redelivery is refused
 * while the delivery is still pending (its retries, or a redelivery not yet made), and a delivery's
 * attempt log keeps its latest MAX_ATTEMPTS_KEPT attempts, however many it has had. No job side
 * runs: the test makes the attempts a worker would.
 */
let h: Harness;
let rx: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  h = await startHarness();
  rx = await startReceiver(() => 200);
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

/** A webhook of a new application with one delivery (a `webhook.test`), delivered on its first attempt. */
async function deliveredOnce(s: Seller) {
  const { app } = await s.setup();
  const hook = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
  const { event_id } = (await s.call('POST', `/api/webhooks/${hook.id}/test`)).json() as { event_id: number };
  await h.deps.db.query('update outbox set relayed_at = now() where id = $1', [event_id]);
  await dispatchEventTry(h.deps, event_id, { listeners: [], lastTry: false, sendDeliveries: async () => {} });
  const [delivery] = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries`)).json() as { id: number; status: string }[];
  expect(delivery).toMatchObject({ status: 'delivered' });
  return { app, hook, deliveryId: delivery!.id };
}

const redeliveryCommands = async (deliveryId: number) =>
  (await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where kind = 'command' and type = 'redeliver_webhook' and payload->>'delivery_id' = $1`, [String(deliveryId)]))[0]!.n;

describe('redelivering a webhook delivery', () => {
  it(`keeps the attempt log of a delivery redelivered again and again to its latest ${MAX_ATTEMPTS_KEPT} attempts, with the count of them all`, async () => {
    expect(MAX_ATTEMPTS_KEPT).toBeGreaterThanOrEqual(WEBHOOK_ATTEMPTS);
    const s = await h.seller();
    const { hook, deliveryId } = await deliveredOnce(s);
    const total = MAX_ATTEMPTS_KEPT + 15;
    for (let i = 1; i < total; i++) {
      expect((await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`)).statusCode).toBe(202);
      // The redelivery job's try.
      expect(await attemptDelivery(h.deps, deliveryId)).toBe('delivered');
    }
    const [rows] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from webhook_attempts where delivery_id = $1', [deliveryId]);
    expect(rows!.n).toBe(MAX_ATTEMPTS_KEPT);
    const [listed] = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries?delivery_id=${deliveryId}`)).json() as { attempts: number; attempt_log: { created_at: string }[] }[];
    expect(listed!.attempts).toBe(total);
    expect(listed!.attempt_log).toHaveLength(MAX_ATTEMPTS_KEPT);
    // The latest ones are kept: the newest attempt is the last of the log.
    const [newest] = await h.deps.db.query<{ at: Date }>('select max(created_at) as at from webhook_attempts where delivery_id = $1', [deliveryId]);
    expect(listed!.attempt_log.at(-1)!.created_at).toBe(new Date(newest!.at).toISOString());
  });

  it('refuses a redelivery while the delivery is still pending (409 CONFLICT), and queues nothing more', async () => {
    const s = await h.seller();
    const { hook, deliveryId } = await deliveredOnce(s);
    expect((await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`)).statusCode).toBe(202);
    // Asked again before the redelivery was made: refused.
    expectError(await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`), 409, 'CONFLICT');
    expect(await redeliveryCommands(deliveryId)).toBe(1);
    // Made (delivered): it may be asked for again.
    expect(await attemptDelivery(h.deps, deliveryId)).toBe('delivered');
    expect((await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`)).statusCode).toBe(202);
    expect(await redeliveryCommands(deliveryId)).toBe(2);
  });

  it("a delivery of another seller's webhook, or of another webhook, is a 404 and is not queued", async () => {
    const s = await h.seller();
    const { app, hook, deliveryId } = await deliveredOnce(s);
    const other = await h.seller('other');
    expectError(await other.call('POST', `/api/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`), 404, 'NOT_FOUND');
    const second = (await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.banned'] })).json() as { id: number };
    expectError(await s.call('POST', `/api/webhooks/${second.id}/deliveries/${deliveryId}/redeliver`), 404, 'NOT_FOUND');
    expect(await redeliveryCommands(deliveryId)).toBe(0);
  });
});

describe('delivery ids past the integer range', () => {
  it('are listed and redelivered (the column is a bigserial); past 2^53 - 1 they are a 400', async () => {
    // Two billion deliveries later: the next one's id no longer fits an int4.
    await h.deps.db.query(`select setval(pg_get_serial_sequence('webhook_deliveries', 'id'), 3000000000)`);
    const s = await h.seller();
    const { hook, deliveryId } = await deliveredOnce(s);
    expect(deliveryId).toBeGreaterThan(2 ** 31);
    const [listed] = (await s.call('GET', `/api/webhooks/${hook.id}/deliveries?delivery_id=${deliveryId}`)).json() as { id: number }[];
    expect(listed).toMatchObject({ id: deliveryId });
    expect((await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`)).statusCode).toBe(202);
    expect(await redeliveryCommands(deliveryId)).toBe(1);
    for (const text of ['9007199254740992', '9'.repeat(30)]) {
      expectError(await s.call('GET', `/api/webhooks/${hook.id}/deliveries?delivery_id=${text}`), 400, 'VALIDATION_ERROR');
      expectError(await s.call('POST', `/api/webhooks/${hook.id}/deliveries/${text}/redeliver`), 400, 'VALIDATION_ERROR');
    }
    expectError(await s.call('POST', `/api/webhooks/${hook.id}/deliveries/9007199254740991/redeliver`), 404, 'NOT_FOUND');
  });
});
