import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expirySweep } from '../src/core/licenses/expiry-sweep.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * On the embedded database a statement completes without giving the process a turn, so the expiry
 * sweep ran its whole backlog before any request was answered: 5,000 licenses that ended during a
 * day of downtime held every request (validations, Discord's 3 s answers) for about 6 s (an audit).
 * It now lets other work in between batches, as a generation job does.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ database: 'pglite' });
});
afterAll(() => h?.close());

describe('the expiry sweep on the embedded database', () => {
  it('answers a request sent as it starts before it has gone through its backlog, and notices every license once', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    for (let i = 0; i < 3; i++) await s.generate(plan.id, 1000);
    await h.deps.db.query(`update licenses set status = 'active', activated_at = now() - interval '31 days', expires_at = now() - interval '1 day' where plan_id = $1`, [plan.id]);

    const order: string[] = [];
    const sweeping = expirySweep(h.deps, { noticeDays: [3, 1], batchSize: 500 }).then((r) => {
      order.push('sweep');
      return r;
    });
    const health = h.app.inject({ method: 'GET', url: '/api/health' }).then((r) => {
      order.push('health');
      return r.statusCode;
    });
    expect(await health).toBe(200);
    expect(await sweeping).toEqual({ expired: 3000, expiringSoon: 0 });
    expect(order).toEqual(['health', 'sweep']);

    // One event and one audit line per license, however they were written.
    const [events] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where application_id = $1 and type = 'license.expired'`, [app.id]);
    const [audits] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from audit_logs where application_id = $1 and action = 'license.expired'`, [app.id]);
    expect([events!.n, audits!.n]).toEqual([3000, 3000]);
    expect(await expirySweep(h.deps, { noticeDays: [3, 1], batchSize: 500 })).toEqual({ expired: 0, expiringSoon: 0 });
  });
});
