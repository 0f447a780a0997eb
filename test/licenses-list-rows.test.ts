import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/**
 * A page of the license list reads its rows in raw SQL (license-rows.ts), where reading one
 * license goes through drizzle's mapping: both must show a license alike, every field set or
 * not, on Postgres and on the embedded database (which hands timestamps over as text).
 */
describe.each(['postgres', 'pglite'] as const)('a license list page on %s', (database) => {
  let h: Harness;
  afterAll(() => h?.close());

  it('shows each license exactly as GET /api/licenses/:id does, with its plan', async () => {
    h = await startHarness({ database });
    const seller = await h.seller();
    const { app, plan } = await seller.setup();
    const made = await seller.generate(plan.id, 3, { notes: 'row-check' });
    const [used, banned] = made as unknown as [{ id: number }, { id: number }];
    // Every nullable column set on one, a ban on another, the third as generated.
    await h.deps.db.query(
      `update licenses set status = 'active', hwids = array['hw-1', 'hw-2'], activated_at = now() - interval '1 day', expires_at = now() + interval '29 days',
         last_used = now(), ip_address = '203.0.113.7', discord_user_id = '100000000000000042', last_hwid_reset_at = now() - interval '2 hours' where id = $1`,
      [used.id],
    );
    expect((await seller.call('POST', `/api/licenses/${banned.id}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);

    const res = await seller.call('GET', `/api/applications/${app.id}/licenses?search=row-check&per_page=10`);
    expect(res.statusCode, res.body).toBe(200);
    const page = { items: res.json() };
    expect(res.headers['x-total-count']).toBe('3');
    expect(page.items.map((l: { id: number }) => l.id)).toEqual(made.map((l) => l.id).sort((a, b) => b - a));
    for (const item of page.items) expect(item).toEqual((await seller.call('GET', `/api/licenses/${item.id}`)).json());
    const active = page.items.find((l: { id: number }) => l.id === used.id);
    expect(active).toMatchObject({ status: 'active', hwid: 'hw-1', hwids: ['hw-1', 'hw-2'], ip_address: '203.0.113.7', plan: { id: plan.id, name: plan.name, duration_days: 30 } });
    expect(Date.parse(active.expires_at)).toBeGreaterThan(Date.now());
    expect(page.items.find((l: { id: number }) => l.id === banned.id)).toMatchObject({ status: 'banned', ban_reason: 'chargeback' });
  }, 120_000);
});
