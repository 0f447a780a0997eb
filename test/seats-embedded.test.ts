import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * The seat statement of migration 0022 on the embedded database (PGlite runs the same migrations):
 * a lowered maximum takes the newest seats back, and a machine without a seat gets no lease.
 */
const clock = fixedClock(new Date('2026-03-01T00:00:00Z'));
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ database: 'pglite', clock, env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const call = async (path: string, body: Record<string, unknown>) => (await client(h, path, body)).json() as Record<string, unknown>;

describe('floating seats on the embedded database', () => {
  it('a lowered maximum keeps only the oldest seats running, and the others get no lease', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false }, plan: { max_concurrent: 3, heartbeat_interval_s: 60 } });
    const [lic] = await s.generate(plan.id);
    const as = (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid });
    for (const m of ['B', 'A', 'C']) {
      expect((await call('/api/licenses/heartbeat', as(m))).code).toBe('VALID');
      clock.advance(1_000);
    }
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_concurrent: 2 })).statusCode).toBe(200);
    clock.advance(60_000);
    const answers = await Promise.all(['A', 'B', 'C'].map((m) => call('/api/licenses/heartbeat', as(m))));
    expect(answers.map((b) => b.code)).toEqual(['VALID', 'VALID', 'SEATS_FULL']);
    expect(await call('/api/licenses/lease', as('C'))).toMatchObject({ success: false, code: 'SEATS_FULL' });
    expect(await call('/api/licenses/lease', as('B'))).toMatchObject({ success: true, code: 'VALID' });
  });
});
