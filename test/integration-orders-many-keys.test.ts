import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** Postgres takes at most 65,535 parameters in one statement. */
const PARAMETER_LIMIT = 65_535;
/** What one page of an integration's orders may carry. */
const MAX_KEYS_PER_PAGE = 10_000;

const STORE_SECRET = 'store-secret-0123';

/** An integration whose orders hold `orders` × `perOrder` keys, written directly (what that many store calls leave). */
async function storeWithOrders(
  s: Seller,
  provider: 'sellix' | 'sellauth',
  orders: number,
  perOrder: number,
  orderIdOf: (n: number) => { orderId: string; lineId: string },
  opts: { atLeast?: number } = {},
) {
  const { app, plan } = await s.setup();
  const made = await s.call('POST', `/api/applications/${app.id}/integrations`, { provider, secret: STORE_SECRET, products: [{ product_id: 'bundle', plan_id: plan.id }] });
  expect(made.statusCode, made.body).toBe(201);
  const integration = made.json() as { id: number; url: string };
  const ids = (
    await h.deps.db.query<{ id: number }>(
      `insert into licenses (application_id, plan_id, license_key, duration_days)
       select $1, $2, 'BUNDLE-' || g, 30 from generate_series(1, $3::int) g returning id`,
      [app.id, plan.id, orders * perOrder],
    )
  )
    .map((r) => r.id)
    .sort((a, b) => a - b);
  expect(ids.length).toBeGreaterThan(opts.atLeast ?? PARAMETER_LIMIT);
  for (let n = 0; n < orders; n++) {
    const { orderId, lineId } = orderIdOf(n);
    await h.deps.db.query('insert into store_orders (integration_id, order_id, line_id, plan_id, license_ids) values ($1, $2, $3, $4, $5::int[])', [
      integration.id,
      orderId,
      lineId,
      plan.id,
      `{${ids.slice(n * perOrder, (n + 1) * perOrder).join(',')}}`,
    ]);
  }
  return { app, integration, ids };
}

describe("an integration's orders", () => {
  it('a page of large orders holds at most 10,000 keys, and following Link next walks every order and key exactly once', async () => {
    const s = await h.seller();
    const orders = 70;
    const perOrder = 1000;
    const { integration, ids } = await storeWithOrders(s, 'sellix', orders, perOrder, (n) => ({ orderId: `order-${n}`, lineId: '' }));

    let next: string | undefined = `/api/integrations/${integration.id}/orders?per_page=100`;
    const seenOrders: string[] = [];
    const seenKeys: number[] = [];
    let pages = 0;
    while (next) {
      const res = await s.call('GET', next);
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
      expect(res.headers['x-total-count']).toBe(String(orders));
      const page = res.json() as { order_id: string; licenses: { id: number; license_key: string }[] }[];
      expect(page.reduce((n, o) => n + o.licenses.length, 0)).toBeLessThanOrEqual(MAX_KEYS_PER_PAGE);
      // Each order with exactly its own keys, in the order they were issued.
      for (const o of page) {
        const n = Number(o.order_id.slice('order-'.length));
        expect(o.licenses.map((l) => l.id)).toEqual(ids.slice(n * perOrder, (n + 1) * perOrder));
      }
      if (pages === 0) expect(page[0]!.order_id).toBe(`order-${orders - 1}`); // newest first
      seenOrders.push(...page.map((o) => o.order_id));
      seenKeys.push(...page.flatMap((o) => o.licenses.map((l) => l.id)));
      next = /<([^>]+)>; rel="next"/.exec(String(res.headers.link))?.[1];
      if (++pages > orders) throw new Error('the pages do not end');
    }
    expect(new Set(seenOrders).size).toBe(orders);
    expect(seenOrders).toHaveLength(orders);
    expect(seenKeys.sort((a, b) => a - b)).toEqual(ids);
  });

  it('a page of small orders is as long as asked', async () => {
    const s = await h.seller();
    const { integration } = await storeWithOrders(s, 'sellix', 60, 1, (n) => ({ orderId: `small-${n}`, lineId: '' }), { atLeast: 0 });
    const res = await s.call('GET', `/api/integrations/${integration.id}/orders?per_page=50`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toHaveLength(50);
    expect(String(res.headers.link)).toContain('per_page=50');
  });

  // 66,000 keys issued and then banned: about 10 s alone, near 30 s with three test files at once on two CPUs.
  it('bans every key of a refunded order, however many lines and keys it had', { timeout: 120_000 }, async () => {
    const s = await h.seller();
    const invoice = '424242';
    // One SellAuth invoice of 66 items of 1,000 keys each.
    const { app, integration, ids } = await storeWithOrders(s, 'sellauth', 66, 1000, (n) => ({ orderId: invoice, lineId: String(n) }));
    const body = JSON.stringify({ event: 'NOTIFICATION.SHOP_INVOICE_REFUNDED', data: { invoice_id: Number(invoice) }, shop_id: 1 });
    const res = await h.app.inject({
      method: 'POST',
      url: new URL(integration.url).pathname,
      payload: body,
      headers: {
        'content-type': 'application/json',
        'x-signature': createHmac('sha256', STORE_SECRET).update(body).digest('hex'),
        'x-timestamp': String(Math.floor(Date.now() / 1000)),
      },
    });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    const [banned] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from licenses where application_id = $1 and status = 'banned' and ban_reason = 'refunded'`, [app.id]);
    expect(banned!.n).toBe(ids.length);
    const [refunded] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from store_orders where integration_id = $1 and status = 'refunded'`, [integration.id]);
    expect(refunded!.n).toBe(66);
  });
});
