import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * Seat batches of one license never wait for each other in a cycle: a held seat's renewal takes the
 * license's advisory lock before its row lock, as a grant does (migration 0022). Before, a renewal
 * took the row lock alone, and two batches whose times differed a little (one sees a seat live, the
 * other lapsed) deadlocked: the renewing one then wanted the advisory lock for a grant, the
 * granting one (holding it) wanted the renewed row to drop it as lapsed.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

describe('seat batches of one license with slightly different times', () => {
  it('do not deadlock', async () => {
    const s = await h.seller();
    const { plan } = await s.setup({ settings: { max_concurrent: 3, heartbeat_interval_s: 300 } });
    const [lic] = await s.generate(plan.id);
    const L = lic!.id;
    const ttl = 600;
    const t2 = new Date('2026-06-01T12:00:00.000Z');
    const t1 = new Date(t2.getTime() - 1);
    const hbB = new Date(t2.getTime() - ttl * 1000); // lapsed at t2, live at t1
    await h.deps.db.query('insert into license_seats (license_id, hwid, last_heartbeat_at) values ($1, $2, $3)', [L, 'B', hbB.toISOString()]);

    const y = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    const x = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    const errors: string[] = [];
    try {
      let xDone: Promise<unknown> | undefined;
      await y
        .begin(async (tx) => {
          // Batch Y (time t1), entry (L, 'B'): B's seat is live at t1, renewed.
          await tx`select * from keycord_seat_heartbeat(${L}::int, 'B', 3, ${t1.toISOString()}::timestamptz, ${ttl}::int)`;
          // Batch X (time t2, another process): (L, 'A'), which at t2 drops B's seat as lapsed.
          xDone = x`select * from keycord_seat_heartbeats(${[L]}::int[], ${['A']}::text[], ${[3]}::int[], ${t2.toISOString()}::timestamptz, ${[ttl]}::int[])`.catch((e: { code?: string }) => {
            errors.push(`batch X: ${e.code}`);
          });
          await new Promise((r) => setTimeout(r, 300));
          // Batch Y, entry (L, 'D'): a new seat.
          await tx`select * from keycord_seat_heartbeat(${L}::int, 'D', 3, ${t1.toISOString()}::timestamptz, ${ttl}::int)`;
        })
        .catch((e: { code?: string }) => {
          errors.push(`batch Y: ${e.code}`);
        });
      await xDone;
    } finally {
      await y.end({ timeout: 5 });
      await x.end({ timeout: 5 });
    }
    expect(errors).toEqual([]);
    const seats = await h.deps.db.query<{ hwid: string }>('select hwid from license_seats where license_id = $1 order by hwid', [L]);
    // B was renewed at t1 before X dropped lapsed seats: live at t2 as well.
    expect(seats.map((r) => r.hwid)).toEqual(['A', 'B', 'D']);
  });

  it('a heartbeat batch failed by a deadlock is run again, not answered with an error', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, max_concurrent: 2, hwid_lock: false } });
    const [lic] = await s.generate(plan.id);
    const db = h.deps.db as { query: (text: string, params?: unknown[]) => Promise<unknown[]> };
    const realQuery = db.query;
    let failed = 0;
    db.query = async (text, params) => {
      if (text.includes('keycord_seat_heartbeats') && failed++ === 0) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      return realQuery(text, params);
    };
    try {
      const answer = (await client(h, '/api/licenses/heartbeat', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'A' })).json();
      expect(answer).toMatchObject({ success: true, code: 'VALID', seats_used: 1, seats_max: 2 });
    } finally {
      db.query = realQuery;
    }
    expect(failed).toBe(2);
  });
});
