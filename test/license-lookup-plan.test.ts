import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LICENSE_LOOKUP_SQL } from '../src/core/licenses/license-lookup.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The batched license lookup must stay a probe of the (application_id, license_key) index per
 * entry whatever the planner knows of the table. On a small table that was never analysed — a new
 * installation's first keys, or keys generated faster than autovacuum looks — a plain join of the
 * batch to licenses was planned as a hash of a sequential scan (5,000 licenses, 50 entries: 2.1 ms
 * a batch instead of 0.28 ms), which under load made every validation read the whole table.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { USAGE_FLUSH_MS: '60000' } });
});
afterAll(() => h?.close());

const planOf = async (sql: string, params: unknown[]) => {
  const rows = await h.deps.db.query<{ 'QUERY PLAN': string }>(`explain ${sql}`, params);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
};

describe('the batched license lookup', () => {
  it('probes the key index per entry on a table of 5,000 licenses that was never analysed', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const keys = [];
    for (let i = 0; i < 5; i++) keys.push(...(await s.generate(plan.id, 1000)));
    // Too soon for autovacuum to have analysed the table (and were it analysed, the plan must not change).
    const batch = keys.slice(0, 50);
    const plan50 = await planOf(LICENSE_LOOKUP_SQL, [batch.map(() => app.id), batch.map((k) => k.license_key)]);
    expect(plan50).toMatch(/Index Scan using licenses_application_key_key on licenses/);
    expect(plan50).not.toMatch(/Seq Scan on licenses/);

    // And it answers: every entry its license, in the batch's order.
    const rows = await h.deps.db.query<{ i: number; license_key: string }>(LICENSE_LOOKUP_SQL, [batch.map(() => app.id), batch.map((k) => k.license_key)]);
    expect(rows.sort((a, b) => a.i - b.i).map((r) => r.license_key)).toEqual(batch.map((k) => k.license_key));
  });
});
