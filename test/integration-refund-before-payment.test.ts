import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Stores do not promise to deliver events in order, and retry a failed delivery for hours (Stripe
 * for days): a refund or dispute can reach Keycord before the paid call of the same order. Keys
 * issued then would be keys of a refunded order, active for good.
 */
const SECRET = 'store-webhook-secret-0123456789';
const STRIPE_SECRET = 'whsec_test_0123456789abcdefghijklmnop';
const stripeSigner = new Stripe('sk_test_unused');
let h: Harness;
let seq = 0;
beforeAll(async () => {
  h = await startHarness({ jobs: 'local' });
});
afterAll(() => h?.close());

const orderId = (prefix: string) => `${prefix}late${Date.now().toString(36)}${++seq}`;

async function connect(s: Seller, provider: 'sellix' | 'stripe') {
  const { app, plan } = await s.setup();
  const res = await s.call('POST', `/api/applications/${app.id}/integrations`, {
    provider,
    secret: provider === 'stripe' ? STRIPE_SECRET : SECRET,
    products: [{ product_id: 'prod', plan_id: plan.id }],
  });
  expect(res.statusCode, res.body).toBe(201);
  const made = res.json() as { id: number; url: string };
  return { app, id: made.id, path: new URL(made.url).pathname };
}

const stripeCall = (path: string, event: object) => {
  const body = JSON.stringify(event);
  return h.app.inject({
    method: 'POST',
    url: path,
    payload: body,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripeSigner.webhooks.generateTestHeaderString({ payload: body, secret: STRIPE_SECRET }) },
  });
};
const sellixCall = (path: string, event: string, data: object) => {
  const body = JSON.stringify({ event, data });
  return h.app.inject({
    method: 'POST',
    url: path,
    payload: body,
    headers: { 'content-type': 'application/json', 'x-sellix-event': event, 'x-sellix-signature': createHmac('sha512', SECRET).update(body).digest('hex') },
  });
};

const licensesOf = (appId: number) => h.deps.db.query<{ status: string }>('select status from licenses where application_id = $1', [appId]);

describe('a refund that arrives before the order it refunds', () => {
  it('Stripe: charge.refunded first, checkout.session.completed after: no key is issued', async () => {
    const s = await h.seller();
    const { app, id, path } = await connect(s, 'stripe');
    const pi = orderId('pi_');
    const refund = await stripeCall(path, { id: 'evt_r', object: 'event', type: 'charge.refunded', data: { object: { id: 'ch_1', object: 'charge', payment_intent: pi, refunded: true } } });
    expect(refund.statusCode, refund.body).toBe(200);
    const paid = await stripeCall(path, {
      id: 'evt_p',
      object: 'event',
      type: 'checkout.session.completed',
      data: { object: { id: 'cs_1', object: 'checkout.session', payment_intent: pi, payment_status: 'paid', metadata: { product_id: 'prod' } } },
    });
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toEqual({ received: true });
    expect(await licensesOf(app.id)).toEqual([]);
    // The orders page lists orders that issued keys; the refund it saw first is not one.
    expect((await s.call('GET', `/api/integrations/${id}/orders`)).json()).toEqual([]);
  });

  it('Sellix: order:disputed first, the dynamic call after: refused with ORDER_REFUNDED, no key issued', async () => {
    const s = await h.seller();
    const { app, path } = await connect(s, 'sellix');
    const order = orderId('sx');
    const data = { uniqid: order, type: 'PRODUCT', product_id: 'prod', quantity: 1, status: 'COMPLETED' };
    expect((await sellixCall(path, 'order:disputed', { ...data, status: 'DISPUTED' })).statusCode).toBe(200);
    const paid = await sellixCall(path, 'product:dynamic', data);
    expect(paid.statusCode, paid.body).toBe(409);
    expect(paid.json()).toMatchObject({ success: false, code: 'ORDER_REFUNDED' });
    expect(await licensesOf(app.id)).toEqual([]);
  });

  it('an order fulfilled, then refunded, then called again answers its (banned) keys and issues no more', async () => {
    const s = await h.seller();
    const { app, path } = await connect(s, 'sellix');
    const order = orderId('sx');
    const data = { uniqid: order, type: 'PRODUCT', product_id: 'prod', quantity: 1, status: 'COMPLETED' };
    const first = await sellixCall(path, 'product:dynamic', data);
    expect(first.statusCode).toBe(200);
    expect((await sellixCall(path, 'order:disputed', { ...data, status: 'DISPUTED' })).statusCode).toBe(200);
    expect((await sellixCall(path, 'order:disputed', { ...data, status: 'DISPUTED' })).statusCode).toBe(200);
    const again = await sellixCall(path, 'product:dynamic', data);
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe(first.body);
    expect(await licensesOf(app.id)).toEqual([{ status: 'banned' }]);
    const rows = await h.deps.db.query<{ line_id: string; status: string }>('select line_id, status from store_orders where order_id = $1', [order]);
    expect(rows).toEqual([{ line_id: 'prod', status: 'refunded' }]);
  });
});
