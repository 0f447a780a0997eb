import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * A maximum lowered below the seats held takes them back: while a license has more live seats than
 * its maximum, the newest seats (by grant time) are released and refused at their next heartbeat,
 * and the oldest keep running. The same for a license moved to a plan with fewer seats.
 */
const clock = fixedClock(new Date('2026-03-01T00:00:00Z'));
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock, env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const heartbeat = async (body: Record<string, unknown>) => (await client(h, '/api/licenses/heartbeat', body)).json() as Record<string, unknown>;

/** Three machines take a seat each, a minute apart, in the order C, A, B: C's is the oldest. */
async function threeSeats(plan: { max_concurrent: number }) {
  const s = await h.seller();
  const { app, plan: p } = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false }, plan: { ...plan, heartbeat_interval_s: 60 } });
  const [lic] = await s.generate(p.id);
  const as = (hwid: string) => ({ app_id: app.app_id, license_key: lic!.license_key, hwid });
  for (const m of ['C', 'A', 'B']) {
    expect((await heartbeat(as(m))).code).toBe('VALID');
    clock.advance(1_000);
  }
  return { s, app, plan: p, lic: lic!, as };
}

/** Every machine heartbeats on time for `minutes`; the last round's answers by machine. */
async function keepRunning(as: (hwid: string) => Record<string, unknown>, minutes: number) {
  let last: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < minutes; i++) {
    clock.advance(60_000);
    const answers = await Promise.all(['A', 'B', 'C'].map((m) => heartbeat(as(m))));
    last = { A: answers[0]!, B: answers[1]!, C: answers[2]! };
    await h.deps.usage.flush();
  }
  return last;
}

describe('a maximum lowered below the seats held', () => {
  it("the plan's max_concurrent lowered from 3 to 1: only the oldest seat keeps running", async () => {
    const { s, plan, lic, as } = await threeSeats({ max_concurrent: 3 });
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_concurrent: 1 })).statusCode).toBe(200);

    const last = await keepRunning(as, 20);
    expect(last.C).toMatchObject({ success: true, code: 'VALID', seats_used: 1, seats_max: 1 });
    expect(last.A).toMatchObject({ success: false, code: 'SEATS_FULL', seats_used: 1, seats_max: 1 });
    expect(last.B).toMatchObject({ success: false, code: 'SEATS_FULL', seats_used: 1, seats_max: 1 });
    const seats = await h.deps.db.query<{ hwid: string }>('select hwid from license_seats where license_id = $1', [lic.id]);
    expect(seats.map((r) => r.hwid)).toEqual(['C']);

    // Raised again: the machines refused take seats again.
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_concurrent: 3 })).statusCode).toBe(200);
    const again = await keepRunning(as, 1);
    expect(Object.values(again).map((b) => b.code)).toEqual(['VALID', 'VALID', 'VALID']);
  });

  it('the first heartbeat after the change already refuses the newest seats, in one batch', async () => {
    const { s, plan, as } = await threeSeats({ max_concurrent: 3 });
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_concurrent: 2 })).statusCode).toBe(200);
    clock.advance(60_000);
    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((m) => heartbeat(as(m))));
    expect([a!.code, b!.code, c!.code]).toEqual(['VALID', 'SEATS_FULL', 'VALID']);
  });

  it('a license moved to a plan with fewer seats keeps only as many machines running', async () => {
    const { s, app, lic, as } = await threeSeats({ max_concurrent: 3 });
    const small = await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Solo', duration_days: 30, max_concurrent: 1, heartbeat_interval_s: 60 });
    expect(small.statusCode).toBe(201);
    await h.deps.db.query('update licenses set plan_id = $1 where id = $2', [small.json().id, lic.id]);

    const last = await keepRunning(as, 5);
    expect(
      Object.entries(last)
        .filter(([, b]) => b.code === 'VALID')
        .map(([m]) => m),
    ).toEqual(['C']);
  });
});
