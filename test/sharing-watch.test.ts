import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationRecord } from '../src/core/licenses/usage-recorder.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Which validations a usage flush hands to key-sharing detection is decided as each validation is
 * recorded (the plan's `sharing` replaces the application's as a whole; banned licenses are not
 * watched), not asked of the database at flush time. This file's harness hands the lines to a
 * recorder instead of the detector, to see exactly which ones arrive.
 */
let h: Harness;
const handed: ValidationRecord[] = [];
beforeAll(async () => {
  // The usage timer never flushes on its own: the test flushes when the traffic is in.
  h = await startHarness({ jobs: 'local', env: { USAGE_FLUSH_MS: '60000' } });
  h.deps.usage.watch(async (lines) => {
    handed.push(...lines);
  });
});
afterAll(async () => {
  await h?.close();
});

const ON = { max_ips_per_24h: 3, max_hwid_mismatches_per_1h: null, action: 'alert' };
const OFF = { max_ips_per_24h: null, max_hwid_mismatches_per_1h: null, action: 'alert' };

async function plan(s: Seller, applicationId: number, name: string, sharing: unknown) {
  const res = await s.call('POST', '/api/plans/', { application_id: applicationId, name, duration_days: 30, sharing });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: number };
}

describe('the lines a usage flush hands to key-sharing detection', () => {
  it("are those of licenses whose plan's setting, else the application's, sets a threshold, and never a banned license's", async () => {
    const s = await h.seller();
    const on = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false, sharing: ON } });
    const off = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false } });
    const keys = {
      appOn: (await s.generate(on.plan.id))[0]!,
      planOff: (await s.generate((await plan(s, on.app.id, 'Off', OFF)).id))[0]!,
      appOff: (await s.generate(off.plan.id))[0]!,
      planOn: (await s.generate((await plan(s, off.app.id, 'On', { ...OFF, max_hwid_mismatches_per_1h: 5 })).id))[0]!,
      banned: (await s.generate(on.plan.id))[0]!,
    };
    expect((await s.call('POST', `/api/licenses/${keys.banned.id}/ban`, { reason: 'test' })).statusCode).toBe(200);
    const appOf = (k: keyof typeof keys) => (k === 'appOff' || k === 'planOn' ? off.app : on.app);

    for (const k of Object.keys(keys) as (keyof typeof keys)[]) {
      const res = await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: appOf(k).app_id, license_key: keys[k].license_key } });
      expect(res.statusCode).toBe(200);
      expect(res.json().code).toBe(k === 'banned' ? 'BANNED' : 'VALID');
    }
    // An unknown key of a watched application is logged, but has no license to watch.
    await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: on.app.app_id, license_key: 'NO-SUCH-KEY' } });

    handed.length = 0;
    await h.deps.usage.flush();
    expect(handed.map((l) => l.licenseId).sort()).toEqual([keys.appOn.id, keys.planOn.id].sort());
    expect(handed.every((l) => l.watched && l.count === 1)).toBe(true);
    // Every validation was still logged.
    const [logged] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from validation_logs where application_id = any($1::int[])', [[on.app.id, off.app.id]]);
    expect(logged!.n).toBe(6);
  });

  it("follow a change of the application's setting from the next validation", async () => {
    const s = await h.seller();
    const { app, plan: p } = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false } });
    const [key] = await s.generate(p.id);
    const validate = async () => {
      const res = await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: key!.license_key } });
      expect(res.json().code).toBe('VALID');
    };
    await validate();
    handed.length = 0;
    await h.deps.usage.flush();
    expect(handed).toEqual([]);

    expect((await s.call('PUT', `/api/applications/${app.id}`, { settings: { sharing: { max_ips_per_24h: 2 } } })).statusCode).toBe(200);
    await validate();
    await h.deps.usage.flush();
    expect(handed.map((l) => l.licenseId)).toEqual([key!.id]);
  });
});
