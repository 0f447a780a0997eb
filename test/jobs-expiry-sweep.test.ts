import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { expirySweep } from '../src/core/licenses/expiry-sweep.js';
import { jobIdsFor } from '../src/jobs/queues.js';
import { maskKey } from '../src/discord/render.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { discordKeyPair, linkServer, MANAGE_GUILD, modal, postInteraction, type Member } from './support/discord-interactions.js';
import { JOB_PROVIDERS, JOB_PROVIDERS_AND_PGLITE, startHarnessWith } from './support/job-providers.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const DAY = 86_400_000;
const noticeDays = [3, 1];
const sweepEnv = { EXPIRY_SWEEP_EVERY: '1h', SESSION_TTL_HOURS: '2160' };

// BullMQ only: it is about the BullMQ job scheduler; both providers' sweeps on their interval are below.
describe('the expiry sweep on BullMQ', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ jobs: 'workers', env: sweepEnv });
  });
  afterAll(() => h?.close());

  it('is scheduled with upsertJobScheduler at EXPIRY_SWEEP_EVERY once Redis is ready', async () => {
    // Set when the connection is ready, not awaited at start: the API must not wait on Redis.
    const key = jobIdsFor(h.jobs!.installationId).expirySweepScheduler();
    const scheduler = await waitFor(async () => (await h.jobs!.queues.maintenance.getJobSchedulers()).find((s) => s.key === key), 10_000, 'the expiry scheduler');
    expect(scheduler).toMatchObject({ key, every: 3_600_000 });
  });
});

describe.each(JOB_PROVIDERS)('the expiry sweep with the $name job provider', (provider) => {
  const clock = fixedClock(new Date('2026-03-01T00:00:00Z'));
  let h: Harness;
  beforeAll(async () => {
    // The provider runs (and sweeps once at start), but the sweeps here are driven with the clock.
    h = await startHarnessWith(provider, { clock, env: sweepEnv });
  });
  afterAll(() => h?.close());

  const events = (type: string) => h.deps.db.query<{ license_id: number }>(`select (payload->'license'->>'id')::int as license_id from outbox where type = $1 order by id`, [type]);

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
    const [payload] = await h.deps.db.query<{ payload: { days: number } }>(
      `select payload from outbox where type = 'license.expiring_soon' and (payload->'license'->>'id')::int = $1 order by id desc limit 1`,
      [lic!.id],
    );
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

  it('ends, and notices once, when another tool wrote expires_at with microseconds', async () => {
    clock.set(new Date('2026-08-01T00:00:00Z'));
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 30 } });
    const [soon, gone] = await s.generate(plan.id, 2);
    for (const l of [soon!, gone!]) await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: l.license_key, hwid: 'PC' });
    // Sub-millisecond dates, as psql or an import script may write them: JavaScript reads them truncated.
    await h.deps.db.query(`update licenses set expires_at = '2026-08-02T12:00:00.123456Z' where id = $1`, [soon!.id]);
    await h.deps.db.query(`update licenses set expires_at = '2026-07-31T12:00:00.987654Z' where id = $1`, [gone!.id]);
    for (let run = 0; run < 2; run++) await expirySweep(h.deps, { noticeDays });
    const mine = async (type: string, id: number) => (await events(type)).filter((e) => e.license_id === id);
    expect(await mine('license.expired', gone!.id)).toHaveLength(1);
    expect(await mine('license.expiring_soon', soon!.id)).toHaveLength(1);
    expect((await s.call('GET', `/api/licenses/${gone!.id}`)).json().status).toBe('expired');
  });

  it('applies one expiry rule to a license reset back to inactive after its date passed', async () => {
    clock.set(new Date('2026-09-01T00:00:00Z'));
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 1 } });
    const [lic] = await s.generate(plan.id);
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    // A reset disables the license (inactive) and keeps its date.
    expect((await s.call('POST', `/api/licenses/${lic!.id}/reset-hwid`)).json().license.status).toBe('inactive');
    clock.set(new Date('2026-09-02T00:00:01Z'));

    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' })).json().code).toBe('EXPIRED');
    expect((await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key })).json()).toMatchObject({ status: 'expired', expired: true, remaining_seconds: 0 });
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json().status).toBe('expired');
    expect((await s.call('GET', `/api/statistics?application_id=${app.id}`)).json().licenses).toMatchObject({ expired: 1, inactive: 0 });
    const listed = async (status: string) => (await s.call('GET', `/api/applications/${app.id}/licenses?status=${status}`)).json().map((l: { id: number }) => l.id);
    expect(await listed('expired')).toEqual([lic!.id]);
    expect(await listed('inactive')).toEqual([]);

    // (Licenses of the tests above end by this date too: the sweep's count covers them all.)
    expect((await expirySweep(h.deps, { noticeDays })).expired).toBeGreaterThanOrEqual(1);
    expect((await expirySweep(h.deps, { noticeDays })).expired).toBe(0);
    expect((await events('license.expired')).filter((e) => e.license_id === lic!.id)).toHaveLength(1);
    const [row] = await h.deps.db.query<{ status: string }>('select status from licenses where id = $1', [lic!.id]);
    expect(row!.status).toBe('expired');
  });
});

describe.each(JOB_PROVIDERS_AND_PGLITE)('the expiry sweep on its interval with the $name job provider', (provider) => {
  // Signatures are checked against real time; licensing time is this clock's.
  const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  const keys = discordKeyPair();
  const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };
  const alice: Member = { id: '100000000000000051', name: 'Alice' };
  let stub: DiscordStub;
  let h: Harness;
  beforeAll(async () => {
    stub = await startDiscordStub();
    h = await startHarnessWith(provider, { clock, env: { EXPIRY_SWEEP_EVERY: '100ms' }, discord: { publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl } });
  });
  afterAll(async () => {
    await h?.close();
    await stub?.close();
  });

  const activated = async (s: Seller, planDays: number) => {
    const { app, plan } = await s.setup({ plan: { name: 'Monthly', duration_days: planDays } });
    const [lic] = await s.generate(plan.id);
    return { app, lic: lic! };
  };
  const validate = (app: { app_id: string }, key: string) => client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: key, hwid: 'PC' });

  it('marks an expired license and delivers license.expired once', async () => {
    const rx = await startReceiver();
    try {
      const s = await h.seller();
      const { app, lic } = await activated(s, 1);
      expect((await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.expired'] })).statusCode).toBe(201);
      expect((await validate(app, lic.license_key)).json().code).toBe('VALID');
      clock.advance(2 * DAY);
      const got = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.expired'), 15_000, 'license.expired');
      expect(JSON.parse(got.body).data.license).toMatchObject({ id: lic.id });
      expect((await s.call('GET', `/api/licenses/${lic.id}`)).json().status).toBe('expired');
      const [events] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.expired' and (payload->'license'->>'id')::int = $1`, [lic.id]);
      expect(events!.n).toBe(1);
    } finally {
      await rx.close();
    }
  });

  it("sends the expiry notice to the owner's DMs", async () => {
    const s = await h.seller();
    const { app, lic } = await activated(s, 10);
    await linkServer(h.app, keys, s, admin, app.app_id);
    expect((await postInteraction(h.app, keys, modal(alice, 'lic:redeem-modal', { license_key: lic.license_key }))).json().data.content).toContain('Redeemed');
    expect((await validate(app, lic.license_key)).json().code).toBe('VALID');

    clock.advance(11 * DAY);
    const dms = await waitFor(
      () => {
        const found = stub.find('POST', new RegExp(`^/channels/dm${alice.id}/messages$`));
        return found.length > 0 && found;
      },
      15_000,
      "Alice's expiry DM",
    );
    expect(dms.map((c) => c.json.content)).toEqual([`Your **My App** license \`${maskKey(lic.license_key)}\` has expired.`]);
  });
});
