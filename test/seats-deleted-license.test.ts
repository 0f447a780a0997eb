import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * A license deleted between a heartbeat's lookup and its seat grant: the grant's insert meets the
 * foreign key (23503). The batch's call is run again without that license, which is answered
 * NOT_FOUND; the other heartbeats of the batch (another tenant's here) are answered as usual.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const heartbeat = (body: Record<string, unknown>) => client(h, '/api/licenses/heartbeat', body);

async function seatedKey() {
  const s = await h.seller();
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, max_concurrent: 3, hwid_lock: false } });
  const [lic] = await s.generate(plan.id);
  return { lic: lic!, as: (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid }) };
}

describe('a seat grant while its license is deleted', () => {
  it("answers that heartbeat NOT_FOUND and another tenant's heartbeat of the same batch VALID", async () => {
    const other = await seatedKey();
    const deleted = await seatedKey();
    expect((await heartbeat(other.as('A'))).json().code).toBe('VALID');
    expect((await heartbeat(deleted.as('A'))).json().code).toBe('VALID');

    // Both lookups read their license; the deletion commits; then both grants go in one batch.
    const lookup = h.deps.lookup;
    const real = lookup.findWithSeat.bind(lookup);
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    const deletion = bothRead.then(() => h.deps.db.query('delete from licenses where id = $1', [deleted.lic.id]));
    lookup.findWithSeat = async (...args: Parameters<typeof real>) => {
      const state = await real(...args);
      if (++arrived === 2) release();
      await deletion;
      return state;
    };
    try {
      const [o, d] = await Promise.all([heartbeat(other.as('B')), heartbeat(deleted.as('B'))]);
      expect(o.statusCode).toBe(200);
      expect(o.json()).toMatchObject({ success: true, code: 'VALID', seats_used: 2, seats_max: 3 });
      expect(d.statusCode).toBe(200);
      expect(d.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
    } finally {
      lookup.findWithSeat = real;
    }
    const [seats] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from license_seats where license_id = $1', [other.lic.id]);
    expect(seats?.n).toBe(2);
  });
});
