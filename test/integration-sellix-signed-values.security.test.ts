import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Sellix signs the body only (X-Sellix-Signature); its headers X-Sellix-Event and
 * X-Sellix-Product-Id are not signed. Whoever relays or replays a signed body can set them, so
 * what the signed body says wins: a header that contradicts it is refused.
 */
const SECRET = 'sellix-webhook-secret-0123456789';
let h: Harness;
let seq = 0;
beforeAll(async () => {
  h = await startHarness({ jobs: 'local' });
});
afterAll(() => h?.close());

const order = () => `sx-signed-${Date.now().toString(36)}-${++seq}`;
const sign = (body: string) => createHmac('sha512', SECRET).update(body).digest('hex');

/** An integration mapping a cheap product to a monthly plan and a dear one to a lifetime plan of 10 keys a unit. */
async function connect(s: Seller) {
  const { app, plan } = await s.setup();
  const dear = await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Lifetime', duration_days: 0 });
  expect(dear.statusCode, dear.body).toBe(201);
  const res = await s.call('POST', `/api/applications/${app.id}/integrations`, {
    provider: 'sellix',
    secret: SECRET,
    products: [
      { product_id: 'cheap', plan_id: plan.id },
      { product_id: 'dear', plan_id: dear.json().id, quantity_per_unit: 10 },
    ],
  });
  expect(res.statusCode, res.body).toBe(201);
  return { app, integrationPath: new URL(res.json().url).pathname };
}

const call = (path: string, body: string, headers: Record<string, string>) =>
  h.app.inject({ method: 'POST', url: path, payload: body, headers: { 'content-type': 'application/json', 'x-sellix-signature': sign(body), ...headers } });

const orderBody = (event: string, data: Record<string, unknown>) => JSON.stringify({ event, data: { type: 'PRODUCT', currency: 'USD', total: 1, ...data } });

async function keyCount(appId: number) {
  const [row] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [appId]);
  return row!.n;
}

describe('Sellix: the signed body is the truth, not the unsigned headers', () => {
  it('a signed order for the cheap product, sent again naming the dear product in X-Sellix-Product-Id, issues nothing', async () => {
    const s = await h.seller();
    const { app, integrationPath } = await connect(s);
    const body = orderBody('product:dynamic', { uniqid: order(), product_id: 'cheap', quantity: 1, status: 'COMPLETED' });
    const forged = await call(integrationPath, body, { 'x-sellix-event': 'product:dynamic', 'x-sellix-product-id': 'dear' });
    expect(forged.statusCode, forged.body).toBe(400);
    expect(forged.json()).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
    expect(await keyCount(app.id)).toBe(0);
    // The honest call (the header agrees, or there is none) is served: one key of the cheap plan.
    const honest = await call(integrationPath, body, { 'x-sellix-event': 'product:dynamic', 'x-sellix-product-id': 'cheap' });
    expect(honest.statusCode, honest.body).toBe(200);
    expect(honest.body.split('\n')).toHaveLength(1);
    expect(await keyCount(app.id)).toBe(1);
  });

  it('a signed order:created (not paid) sent with X-Sellix-Event order:paid issues nothing', async () => {
    const s = await h.seller();
    const { app, integrationPath } = await connect(s);
    const body = orderBody('order:created', { uniqid: order(), product_id: 'cheap', quantity: 1, status: 'PENDING' });
    const forged = await call(integrationPath, body, { 'x-sellix-event': 'order:paid' });
    expect(forged.statusCode, forged.body).toBe(400);
    expect(await keyCount(app.id)).toBe(0);
  });

  it('a signed paid order sent with X-Sellix-Event order:disputed bans none of its keys', async () => {
    const s = await h.seller();
    const { app, integrationPath } = await connect(s);
    const body = orderBody('order:paid', { uniqid: order(), product_id: 'cheap', quantity: 2, status: 'COMPLETED' });
    const paid = await call(integrationPath, body, { 'x-sellix-event': 'order:paid' });
    expect(paid.statusCode, paid.body).toBe(200);
    const forged = await call(integrationPath, body, { 'x-sellix-event': 'order:disputed' });
    expect(forged.statusCode, forged.body).toBe(400);
    const banned = await h.deps.db.query("select 1 from licenses where application_id = $1 and status = 'banned'", [app.id]);
    expect(banned).toHaveLength(0);
  });

  it('a signed body without an event, sent with X-Sellix-Event order:disputed, bans none of its keys', async () => {
    const s = await h.seller();
    const { app, integrationPath } = await connect(s);
    // A dynamic product's call: the event is in the header only, as Sellix documents it.
    const body = JSON.stringify({ data: { uniqid: order(), type: 'PRODUCT', product_id: 'cheap', quantity: 1, status: 'COMPLETED' } });
    const paid = await call(integrationPath, body, { 'x-sellix-event': 'product:dynamic' });
    expect(paid.statusCode, paid.body).toBe(200);
    const forged = await call(integrationPath, body, { 'x-sellix-event': 'order:disputed' });
    expect(forged.statusCode, forged.body).toBe(400);
    const banned = await h.deps.db.query("select 1 from licenses where application_id = $1 and status = 'banned'", [app.id]);
    expect(banned).toHaveLength(0);
  });

  it('a cart: each dynamic call issues the line its header names, from the signed cart; a product outside the cart is refused', async () => {
    const s = await h.seller();
    const { app, integrationPath } = await connect(s);
    const body = JSON.stringify({
      event: 'product:dynamic',
      data: {
        uniqid: order(),
        type: 'SHOPPING_CART',
        status: 'COMPLETED',
        product_id: null,
        cart: { products: [{ uniqid: 'cheap', unit_quantity: 3 }] },
      },
    });
    const outside = await call(integrationPath, body, { 'x-sellix-event': 'product:dynamic', 'x-sellix-product-id': 'dear' });
    expect(outside.statusCode, outside.body).toBe(400);
    expect(await keyCount(app.id)).toBe(0);
    const line = await call(integrationPath, body, { 'x-sellix-event': 'product:dynamic', 'x-sellix-product-id': 'cheap' });
    expect(line.statusCode, line.body).toBe(200);
    expect(line.body.split('\n')).toHaveLength(3);
  });
});
