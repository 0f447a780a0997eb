import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORGET_KEYLESS_STRIPE_REFUNDS, KEYLESS_REFUNDS_FORGOTTEN_PER_PASS, KEYLESS_REFUNDS_KEPT_MS } from '../src/core/integrations/forget-keyless-refunds.js';
import { maintenanceTry } from '../src/jobs/definitions/maintenance.js';
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

describe('refunds of orders Keycord never fulfilled, later', () => {
  const stripeRefund = (path: string, pi: string) =>
    stripeCall(path, { id: `evt_${pi}`, object: 'event', type: 'charge.refunded', data: { object: { id: `ch_${pi}`, object: 'charge', payment_intent: pi, refunded: true } } });
  const stripePaid = (path: string, pi: string) =>
    stripeCall(path, {
      id: `evt_p${pi}`,
      object: 'event',
      type: 'checkout.session.completed',
      data: { object: { id: `cs_${pi}`, object: 'checkout.session', payment_intent: pi, payment_status: 'paid', metadata: { product_id: 'prod' } } },
    });
  const orderRows = async (order: string) => (await h.deps.db.query<{ n: number }>('select count(*)::int as n from store_orders where order_id = $1', [order]))[0]!.n;
  const age = (order: string, ms: number) => h.deps.db.query(`update store_orders set refunded_at = now() - make_interval(secs => $2::double precision / 1000) where order_id = $1`, [order, ms]);

  it('are forgotten by the maintenance pass after 30 days on Stripe, and no sooner; Sellix ones and refunds of fulfilled orders stay', async () => {
    const s = await h.seller();
    const stripeIntegration = await connect(s, 'stripe');
    const sellixIntegration = await connect(s, 'sellix');
    const old = orderId('pi_');
    const recent = orderId('pi_');
    const fulfilled = orderId('pi_');
    const sellixOld = orderId('sx');
    expect((await stripeRefund(stripeIntegration.path, old)).statusCode).toBe(200);
    expect((await stripeRefund(stripeIntegration.path, recent)).statusCode).toBe(200);
    expect((await stripePaid(stripeIntegration.path, fulfilled)).statusCode).toBe(200);
    expect((await stripeRefund(stripeIntegration.path, fulfilled)).statusCode).toBe(200);
    const data = { uniqid: sellixOld, type: 'PRODUCT', product_id: 'prod', quantity: 1, status: 'DISPUTED' };
    expect((await sellixCall(sellixIntegration.path, 'order:disputed', data)).statusCode).toBe(200);
    const day = 86_400_000;
    await age(old, KEYLESS_REFUNDS_KEPT_MS + day);
    await age(recent, KEYLESS_REFUNDS_KEPT_MS - day);
    await age(fulfilled, KEYLESS_REFUNDS_KEPT_MS + day);
    await age(sellixOld, KEYLESS_REFUNDS_KEPT_MS + day);

    await maintenanceTry(h.deps, { expiryNoticeDays: [3] });
    expect(await orderRows(old)).toBe(0);
    expect(await orderRows(recent)).toBe(1);
    // Its keys are banned and listed on the orders page: the seller's record of a sale.
    expect(await orderRows(fulfilled)).toBe(1);
    // A Sellix paid call carries no signed time, so its refusal must outlive any replay of it.
    expect(await orderRows(sellixOld)).toBe(1);
    expect(await licensesOf(stripeIntegration.app.id)).toEqual([{ status: 'banned' }]);
  });

  /** `n` keyless refunded rows of `integrationId`, refunded 31 days ago, as many refunds would leave them. */
  const oldKeylessRefunds = (integrationId: number, n: number, prefix: string) =>
    h.deps.db.query(
      `insert into store_orders (integration_id, order_id, status, refunded_at)
       select $1, $2 || g, 'refunded', now() - interval '31 days' from generate_series(1, $3::int) g`,
      [integrationId, prefix, n],
    );
  const keylessLeft = async (integrationId: number) =>
    (await h.deps.db.query<{ n: number }>(`select count(*)::int as n from store_orders where integration_id = $1 and license_ids = '{}'`, [integrationId]))[0]!.n;

  it(`forgets at most ${KEYLESS_REFUNDS_FORGOTTEN_PER_PASS} rows a pass, and the rest at the next`, async () => {
    const s = await h.seller();
    const { id } = await connect(s, 'stripe');
    await oldKeylessRefunds(id, KEYLESS_REFUNDS_FORGOTTEN_PER_PASS + 10, orderId('pi_backlog'));
    await maintenanceTry(h.deps, { expiryNoticeDays: [3] });
    expect(await keylessLeft(id)).toBe(10);
    await maintenanceTry(h.deps, { expiryNoticeDays: [3] });
    expect(await keylessLeft(id)).toBe(0);
  });

  it("walks only Stripe integrations' old rows on the partial index, never the refusals other stores keep", async () => {
    const s = await h.seller();
    const stripeIntegration = await connect(s, 'stripe');
    const sellixIntegration = await connect(s, 'sellix');
    await oldKeylessRefunds(stripeIntegration.id, 3, orderId('pi_walk'));
    await oldKeylessRefunds(sellixIntegration.id, 400, orderId('sx_walk'));
    const stripeRows = (
      await h.deps.db.query<{ n: number }>(
        `select count(*)::int as n from store_orders o join store_integrations i on i.id = o.integration_id
       where i.provider = 'stripe' and o.status = 'refunded' and o.license_ids = '{}' and o.refunded_at < now() - interval '30 days'`,
      )
    )[0]!.n;
    // The maintenance pass's own statement, run and rolled back on one connection. A test database
    // holds few rows, where a scan is cheapest: the planner is told not to scan.
    const statement = FORGET_KEYLESS_STRIPE_REFUNDS.replaceAll('$1::timestamptz', "now() - interval '30 days'").replaceAll('$2', '5000');
    let plan: unknown;
    const rolledBack = new Error('rolled back');
    await h.deps.db.orm
      .transaction(async (tx) => {
        await tx.execute(sql`set local enable_seqscan = off`);
        plan = await tx.execute(sql.raw(`explain (analyze, format json) ${statement}`));
        throw rolledBack;
      })
      .catch((err: unknown) => {
        if (err !== rolledBack) throw err;
      });
    type PlanNode = { 'Index Name'?: string; 'Actual Rows': number; 'Actual Loops': number; Plans?: PlanNode[] };
    const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
    const root = (JSON.parse(JSON.stringify(plan)) as { 'QUERY PLAN': [{ Plan: PlanNode }] }[])[0]!['QUERY PLAN'][0].Plan;
    const onIndex = nodes(root).filter((n) => n['Index Name'] === 'store_orders_keyless_refunds_idx');
    expect(onIndex.length, JSON.stringify(root)).toBeGreaterThan(0);
    // Actual Rows is a per-loop average (one loop per Stripe integration), rounded: up to one more a loop.
    const read = onIndex.reduce((total, n) => total + n['Actual Rows'] * n['Actual Loops'], 0);
    const loops = onIndex.reduce((total, n) => total + n['Actual Loops'], 0);
    expect(read).toBeGreaterThanOrEqual(stripeRows);
    expect(read).toBeLessThanOrEqual(stripeRows + loops);
    expect(stripeRows + loops).toBeLessThan(400);
    expect(await keylessLeft(sellixIntegration.id)).toBe(400);
  });
});
