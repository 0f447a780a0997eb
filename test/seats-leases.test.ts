import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * Offline leases of a license with floating seats: a lease is one more way to run, so it goes only
 * to a machine that holds a live seat or takes a free one with that request; any other machine is
 * answered SEATS_FULL, as its heartbeat is, with no lease.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const heartbeat = async (body: Record<string, unknown>) => (await client(h, '/api/licenses/heartbeat', body)).json() as Record<string, unknown>;
const lease = async (body: Record<string, unknown>) => (await client(h, '/api/licenses/lease', body)).json() as Record<string, unknown>;

async function seatCounted(maxConcurrent: number) {
  const s = await h.seller();
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, max_concurrent: maxConcurrent, hwid_lock: false } });
  const [lic] = await s.generate(plan.id);
  return { lic: lic!, as: (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid }) };
}

describe('offline leases of a seat-counted license', () => {
  it('a machine refused a seat gets no lease either; the machine holding it does', async () => {
    const { as } = await seatCounted(1);
    expect(await heartbeat(as('A'))).toMatchObject({ code: 'VALID', seats_used: 1, seats_max: 1 });
    expect(await heartbeat(as('B'))).toMatchObject({ code: 'SEATS_FULL' });

    const refused = await Promise.all(['B', 'C', 'D'].map((m) => lease(as(m))));
    for (const answer of refused) {
      expect(answer).toMatchObject({ success: false, code: 'SEATS_FULL', message: 'Every seat of this license is in use' });
      expect(answer.lease).toBeUndefined();
      expect(answer.lease_expires_at).toBeUndefined();
    }
    const held = await lease(as('A'));
    expect(held).toMatchObject({ success: true, code: 'VALID' });
    expect(typeof held.lease).toBe('string');
  });

  it('a machine without a seat takes a free one with its lease, which then counts against the others', async () => {
    const { lic, as } = await seatCounted(2);
    expect((await heartbeat(as('A'))).code).toBe('VALID');
    const leased = await lease(as('B'));
    expect(leased).toMatchObject({ success: true, code: 'VALID' });
    expect(typeof leased.lease).toBe('string');
    expect(await heartbeat(as('C'))).toMatchObject({ code: 'SEATS_FULL', seats_used: 2, seats_max: 2 });
    expect(await lease(as('C'))).toMatchObject({ success: false, code: 'SEATS_FULL' });
    const seats = await h.deps.db.query<{ hwid: string }>('select hwid from license_seats where license_id = $1 order by hwid', [lic.id]);
    expect(seats.map((r) => r.hwid)).toEqual(['A', 'B']);
  });

  it('a machine refused a seat takes no HWID slot either: the holder of the seat still gets its lease', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, max_concurrent: 1, hwid_lock: true, max_hwids: 1 } });
    const [lic] = await s.generate(plan.id);
    const as = (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid });
    expect(await heartbeat(as('A'))).toMatchObject({ code: 'VALID' });
    expect(await lease(as('B'))).toMatchObject({ success: false, code: 'SEATS_FULL' });
    expect(await lease(as('A'))).toMatchObject({ success: true, code: 'VALID' });
  });
});
