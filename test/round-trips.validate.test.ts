import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

/**
 * Round-trip budgets of the client validation path, counted on the wire between Keycord and
 * Postgres (deterministic, unlike time): a change that adds a round trip here fails CI.
 */
let h: Harness;
beforeAll(async () => {
  // The timer never flushes on its own during a test: each test flushes when it measures.
  h = await startHarness({ countRoundTrips: true, env: { USAGE_FLUSH_MS: '60000' } });
});
afterAll(() => h?.close());

const validate = (body: Record<string, unknown>) => client(h, '/api/licenses/validate', body);

async function activatedKeys(count: number) {
  const s = await h.seller();
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0 } });
  const keys = await s.generate(plan.id, count);
  for (const [i, key] of keys.entries()) {
    const first = await validate({ app_id: app.app_id, license_key: key.license_key, hwid: `PC-${i}` });
    expect(first.json().code).toBe('VALID');
  }
  await h.deps.usage.flush();
  return { app, keys };
}

describe('database round trips of validation', () => {
  it('a validation of an active key with its HWID costs at most 2 round trips', async () => {
    const { app, keys } = await activatedKeys(1);
    const body = { app_id: app.app_id, license_key: keys[0]!.license_key, hwid: 'PC-0' };
    await validate(body); // warm: the first use of a statement on a connection pays a Describe
    const cost = await h.roundTrips!.measure(async () => expect((await validate(body)).json().code).toBe('VALID'));
    expect(cost.roundTrips).toBeLessThanOrEqual(2);
  });

  it('validations arriving together share their lookups: 100 at once over 20 keys cost a handful of statements, not 100', async () => {
    const { app, keys } = await activatedKeys(20);
    const bodies = Array.from({ length: 100 }, (_, i) => ({ app_id: app.app_id, license_key: keys[i % 20]!.license_key, hwid: `PC-${i % 20}` }));
    await Promise.all(bodies.slice(0, 20).map(validate)); // warm every pooled connection's statement
    const cost = await h.roundTrips!.measure(async () => {
      const answers = await Promise.all(bodies.map(validate));
      expect(answers.every((a) => a.json().code === 'VALID')).toBe(true);
    });
    expect(cost.statements, JSON.stringify(cost)).toBeLessThanOrEqual(10);
  });

  it('a usage flush of 50 distinct keys is one statement in one round trip, and writes every key', async () => {
    const { app, keys } = await activatedKeys(50);
    // Warm the flush statement on every pooled connection it may land on.
    for (let i = 0; i < 3; i++) {
      await validate({ app_id: app.app_id, license_key: keys[0]!.license_key, hwid: 'PC-0' });
      await h.deps.usage.flush();
    }
    for (const [i, key] of keys.entries()) {
      for (let n = 0; n < 2; n++) expect((await validate({ app_id: app.app_id, license_key: key.license_key, hwid: `PC-${i}` })).json().code).toBe('VALID');
    }
    const ids = keys.map((k) => k.id);
    const [before] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from validation_logs where license_id = any($1::int[])', [ids]);

    const cost = await h.roundTrips!.measure(() => h.deps.usage.flush());
    expect(cost).toMatchObject({ statements: 1 });
    expect(cost.roundTrips).toBeLessThanOrEqual(2);
    expect(h.deps.usage.pending).toBe(0);

    // Two validations of a key within a flush stay one log line with a count of 2.
    const lines = await h.deps.db.query<{ license_id: number; count: number }>('select license_id, count from validation_logs where license_id = any($1::int[]) order by id desc limit 50', [ids]);
    const [after] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from validation_logs where license_id = any($1::int[])', [ids]);
    expect(after!.n - before!.n).toBe(50);
    expect(new Set(lines.map((l) => l.license_id))).toEqual(new Set(ids));
    expect(lines.every((l) => l.count === 2)).toBe(true);
    const used = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where id = any($1::int[]) and last_used is not null', [ids]);
    expect(used[0]!.n).toBe(50);
  });

  it('a flush larger than one batch is a few statements, not one per key', async () => {
    const { app, keys } = await activatedKeys(1);
    // 1,500 distinct log lines (distinct HWIDs of one key): past one batch of 1,000.
    for (let i = 0; i < 1500; i++) h.deps.usage.recordValidation(app.id, new Date(), false, undefined, { licenseId: keys[0]!.id, code: 'HWID_MISMATCH', hwid: `OTHER-${i}`, ip: null, watched: false });
    const [before] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from validation_logs where license_id = $1', [keys[0]!.id]);
    const cost = await h.roundTrips!.measure(() => h.deps.usage.flush());
    const [after] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from validation_logs where license_id = $1', [keys[0]!.id]);
    expect(after!.n - before!.n).toBe(1500);
    expect(cost.statements).toBe(2);
  });
});
