import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** Postgres takes at most 65,535 parameters in one statement. */
const PARAMETER_LIMIT = 65_535;

describe("an integration's orders", () => {
  it('lists a page whose orders hold more keys than one statement can name one by one', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const made = await s.call('POST', `/api/applications/${app.id}/integrations`, { provider: 'sellix', secret: 'store-secret-0123', products: [{ product_id: 'bundle', plan_id: plan.id }] });
    expect(made.statusCode, made.body).toBe(201);
    const integration = made.json() as { id: number };

    // 70 paid orders of 1,000 keys each (what 70 store calls for a bundle of 1,000 leave), written
    // directly: the listing reads these rows, however they came to be.
    const orders = 70;
    const perOrder = 1000;
    const ids = (
      await h.deps.db.query<{ id: number }>(
        `insert into licenses (application_id, plan_id, license_key, duration_days)
         select $1, $2, 'BUNDLE-' || g, 30 from generate_series(1, $3::int) g returning id`,
        [app.id, plan.id, orders * perOrder],
      )
    )
      .map((r) => r.id)
      .sort((a, b) => a - b);
    expect(ids.length).toBeGreaterThan(PARAMETER_LIMIT);
    for (let n = 0; n < orders; n++) {
      await h.deps.db.query('insert into store_orders (integration_id, order_id, plan_id, license_ids) values ($1, $2, $3, $4::int[])', [
        integration.id,
        `order-${n}`,
        plan.id,
        `{${ids.slice(n * perOrder, (n + 1) * perOrder).join(',')}}`,
      ]);
    }

    const res = await s.call('GET', `/api/integrations/${integration.id}/orders?per_page=100`);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.headers['x-total-count']).toBe(String(orders));
    const page = res.json() as { order_id: string; licenses: { id: number; license_key: string }[] }[];
    expect(page).toHaveLength(orders);
    // Newest first, each with exactly its own keys, in the order they were issued.
    expect(page[0]!.order_id).toBe(`order-${orders - 1}`);
    expect(page.at(-1)!.licenses.map((l) => l.id)).toEqual(ids.slice(0, perOrder));
    expect(page.at(-1)!.licenses[0]!.license_key).toMatch(/^BUNDLE-\d+$/);
    expect(page.reduce((n, o) => n + o.licenses.length, 0)).toBe(orders * perOrder);
  });
});
