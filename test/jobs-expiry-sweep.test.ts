import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { expirySweep } from '../src/core/licenses/expiry-sweep.js';
import { jobIdsFor } from '../src/jobs/queues.js';
import { client, startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

const DAY = 86_400_000;
const clock = fixedClock(new Date('2026-03-01T00:00:00Z'));
let h: Harness;

beforeAll(async () => {
  // Workers run (so the scheduler is set), but the sweep itself is driven here with the clock.
  h = await startHarness({ clock, jobs: 'workers', env: { EXPIRY_SWEEP_EVERY: '1h', SESSION_TTL_HOURS: '2160' } });
});
afterAll(() => h?.close());

const noticeDays = [3, 1];
const events = (type: string) =>
  h.deps.db.query<{ license_id: number }>(`select (payload->'license'->>'id')::int as license_id from outbox where type = $1 order by id`, [type]);

describe('the expiry sweep', () => {
  it('is scheduled with upsertJobScheduler at EXPIRY_SWEEP_EVERY once Redis is ready', async () => {
    // Set when the connection is ready, not awaited at start: the API must not wait on Redis.
    const key = jobIdsFor(h.jobs!.installationId).expirySweepScheduler();
    const scheduler = await waitFor(async () => (await h.jobs!.queues.maintenance.getJobSchedulers()).find((s) => s.key === key), 10_000, 'the expiry scheduler');
    expect(scheduler).toMatchObject({ key, every: 3_600_000 });
  });

  it('notices 3 days and 1 day before and marks expired, each exactly once', async () => {
    clock.set(new Date('2026-03-01T00:00:00Z'));
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 10 } });
    const [lic] = await s.generate(plan.id);
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    // Expires 2026-03-11. Nothing to say a week before.
    clock.set(new Date('2026-03-04T00:00:00Z'));
    expect(await expirySweep(h.deps, { noticeDays })).toEqual({ expired: 0, expiringSoon: 0 });

    clock.set(new Date('2026-03-08T12:00:00Z')); // 2.5 days left: the 3-day window
    expect((await expirySweep(h.deps, { noticeDays })).expiringSoon).toBe(1);
    expect((await expirySweep(h.deps, { noticeDays })).expiringSoon).toBe(0);

    clock.set(new Date('2026-03-10T06:00:00Z')); // 18 h left: the 1-day window
    expect((await expirySweep(h.deps, { noticeDays })).expiringSoon).toBe(1);
    expect((await expirySweep(h.deps, { noticeDays })).expiringSoon).toBe(0);

    clock.set(new Date('2026-03-11T00:00:01Z'));
    const [first, second] = await Promise.all([expirySweep(h.deps, { noticeDays }), expirySweep(h.deps, { noticeDays })]);
    expect(first.expired + second.expired).toBe(1);
    expect((await expirySweep(h.deps, { noticeDays })).expired).toBe(0);

    const soon = (await events('license.expiring_soon')).filter((e) => e.license_id === lic!.id);
    const expired = (await events('license.expired')).filter((e) => e.license_id === lic!.id);
    expect(soon).toHaveLength(2);
    expect(expired).toHaveLength(1);
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json().status).toBe('expired');
    const [payload] = await h.deps.db.query<{ payload: { days: number } }>(`select payload from outbox where type = 'license.expiring_soon' and (payload->'license'->>'id')::int = $1 order by id desc limit 1`, [lic!.id]);
    expect(payload!.payload.days).toBe(1);
  });

  it('gives an extended license new notices for its new date, and skips banned ones', async () => {
    clock.set(new Date('2026-05-01T00:00:00Z'));
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 2 } });
    const [a, b] = await s.generate(plan.id, 2);
    for (const l of [a!, b!]) await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: l.license_key, hwid: 'PC' });
    await s.call('POST', `/api/licenses/${b!.id}/ban`, {});
    clock.set(new Date('2026-05-03T00:00:01Z'));
    await expirySweep(h.deps, { noticeDays });
    const expiredIds = (await events('license.expired')).map((e) => e.license_id);
    expect(expiredIds).toContain(a!.id);
    expect(expiredIds).not.toContain(b!.id);

    await s.call('POST', `/api/licenses/${a!.id}/extend`, { days: 2 });
    expect((await s.call('GET', `/api/licenses/${a!.id}`)).json().status).toBe('active');
    clock.set(new Date('2026-05-05T00:00:02Z'));
    await expirySweep(h.deps, { noticeDays });
    expect((await events('license.expired')).filter((e) => e.license_id === a!.id)).toHaveLength(2);
  });

  it('also announces a key that validation already found expired', async () => {
    clock.set(new Date('2026-07-01T00:00:00Z'));
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 1 } });
    const [lic] = await s.generate(plan.id);
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    clock.set(new Date('2026-07-02T00:00:01Z'));
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' })).json().code).toBe('EXPIRED');
    await expirySweep(h.deps, { noticeDays });
    expect((await events('license.expired')).filter((e) => e.license_id === lic!.id)).toHaveLength(1);
  });
});
