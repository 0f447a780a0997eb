import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { detectSharing } from '../src/core/sharing/detect-sharing.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { inOtherSession } from './support/other-session.js';
import { startReceiver } from './support/receiver.js';
import { untilLockWaiters, waitFor } from './support/wait.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OFF = { max_ips_per_24h: null, max_hwid_mismatches_per_1h: null, action: 'alert' };

// Licensing time is this clock's: ten in the morning (UTC) of today, so an hour or a day of traffic stays in one window.
const clock = fixedClock(new Date(Math.floor(Date.now() / DAY) * DAY + 10 * HOUR));
let h: Harness;
let rx: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  rx = await startReceiver();
  // The usage timer never flushes on its own: each test flushes when the traffic is in.
  h = await startHarness({ clock, jobs: 'local', env: { USAGE_FLUSH_MS: '60000', SESSION_TTL_HOURS: '2160' } });
});
afterAll(async () => {
  await h?.close();
  await rx?.close();
});

/** An application (with the given settings), one plan, one key activated on PC-1, and a webhook for sharing alerts. */
async function watchedKey(s: Seller, settings: Record<string, unknown>, plan: Record<string, unknown> = {}) {
  const { app, plan: p } = await s.setup({ settings: { rate_limit_per_minute: 0, ...settings }, plan });
  const hook = await s.call('POST', `/api/applications/${app.id}/webhooks`, { url: rx.url, events: ['license.sharing_suspected', 'license.banned'] });
  expect(hook.statusCode, hook.body).toBe(201);
  const [lic] = await s.generate(p.id);
  const key = lic!;
  const validate = async (ip: string, hwid = 'PC-1') => {
    const res = await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: key.license_key, hwid }, remoteAddress: ip });
    expect(res.statusCode).toBe(200);
    return res.json().code as string;
  };
  expect(await validate('198.51.100.1')).toBe('VALID');
  return { app, plan: p, key, validate };
}

const suspected = (applicationId: number) =>
  h.deps.db.query<{ payload: any }>(`select payload from outbox where application_id = $1 and type = 'license.sharing_suspected' order by id`, [applicationId]);
const flags = (licenseId: number) =>
  h.deps.db.query<{ kind: string; window_start: Date; ips: number; hwid_mismatches: number; status: string; action: string }>(
    'select kind, window_start, ips, hwid_mismatches, status, action from sharing_flags where license_id = $1 order by id',
    [licenseId],
  );

describe('the sharing setting', () => {
  it('is off by default and patched field by field through PUT /api/applications/:id', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    expect(app.settings.sharing).toEqual(OFF);
    const on = await s.call('PUT', `/api/applications/${app.id}`, { settings: { sharing: { max_ips_per_24h: 5 } } });
    expect(on.statusCode, on.body).toBe(200);
    expect(on.json().settings.sharing).toEqual({ ...OFF, max_ips_per_24h: 5 });
    const ban = await s.call('PUT', `/api/applications/${app.id}`, { settings: { sharing: { action: 'ban', max_hwid_mismatches_per_1h: 10 } } });
    expect(ban.json().settings.sharing).toEqual({ max_ips_per_24h: 5, max_hwid_mismatches_per_1h: 10, action: 'ban' });
    // Another setting's patch leaves it alone; null turns one threshold off.
    await s.call('PUT', `/api/applications/${app.id}`, { settings: { max_hwids: 2 } });
    const off = await s.call('PUT', `/api/applications/${app.id}`, { settings: { sharing: { max_ips_per_24h: null } } });
    expect(off.json().settings).toMatchObject({ max_hwids: 2, sharing: { max_ips_per_24h: null, max_hwid_mismatches_per_1h: 10, action: 'ban' } });
    expect((await s.call('GET', `/api/applications/${app.id}`)).json().settings.sharing).toEqual(off.json().settings.sharing);
  });

  it.each([
    [{ max_ips_per_24h: 0 }, 'max_ips_per_24h'],
    [{ max_ips_per_24h: 10_001 }, 'max_ips_per_24h'],
    [{ max_hwid_mismatches_per_1h: 1.5 }, 'max_hwid_mismatches_per_1h'],
    [{ max_hwid_mismatches_per_1h: '3' }, 'max_hwid_mismatches_per_1h'],
    [{ action: 'delete' }, 'action'],
    [{ max_ips: 3 }, 'sharing'],
  ])('refuses %j with 400 naming the field', async (sharing, field) => {
    const s = await h.seller();
    const { app } = await s.setup();
    const res = await s.call('PUT', `/api/applications/${app.id}`, { settings: { sharing } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(res.json().details)).toContain(field);
    expect((await s.call('GET', `/api/applications/${app.id}`)).json().settings.sharing).toEqual(OFF);
  });

  it("is overridden per plan (a whole object; null = the application's), through POST and PUT /api/plans", async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    expect((await s.call('GET', `/api/applications/${app.id}/plans`)).json()[0].sharing).toBeNull();
    const put = await s.call('PUT', `/api/plans/${plan.id}`, { sharing: { max_hwid_mismatches_per_1h: 4 } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().sharing).toEqual({ ...OFF, max_hwid_mismatches_per_1h: 4 });
    const made = await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Strict', duration_days: 7, sharing: { max_ips_per_24h: 2, action: 'ban' } });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json().sharing).toEqual({ max_ips_per_24h: 2, max_hwid_mismatches_per_1h: null, action: 'ban' });
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { sharing: null })).json().sharing).toBeNull();
    for (const bad of [{ max_ips_per_24h: -1 }, { action: 'nuke' }, { extra: 1 }, 'on']) {
      expect((await s.call('PUT', `/api/plans/${plan.id}`, { sharing: bad })).statusCode).toBe(400);
    }
  });
});

describe('detection over distinct IPs a day', () => {
  let s: Seller;
  let w: Awaited<ReturnType<typeof watchedKey>>;
  beforeAll(async () => {
    clock.set(new Date(Math.floor(clock.now().getTime() / DAY) * DAY + 10 * HOUR));
    s = await h.seller();
    w = await watchedKey(s, { sharing: { max_ips_per_24h: 3 } });
  });

  it('flags nothing while a key stays within the limit', async () => {
    for (const ip of ['198.51.100.2', '198.51.100.3', '198.51.100.3']) expect(await w.validate(ip)).toBe('VALID');
    await h.deps.usage.flush();
    expect(await flags(w.key.id)).toEqual([]);
    expect(await suspected(w.app.id)).toEqual([]);
  });

  it('emits license.sharing_suspected once, with the window and figures, when the key crosses it (a webhook event like the others)', async () => {
    clock.advance(HOUR);
    expect(await w.validate('203.0.113.9')).toBe('VALID');
    await h.deps.usage.flush();
    const [flag, ...more] = await flags(w.key.id);
    expect(more).toEqual([]);
    const dayStart = new Date(Math.floor(clock.now().getTime() / DAY) * DAY);
    expect(flag).toMatchObject({ kind: 'ips_24h', ips: 4, hwid_mismatches: 0, status: 'open', action: 'alert' });
    expect(new Date(flag!.window_start).toISOString()).toBe(dayStart.toISOString());

    const got = await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.sharing_suspected' && JSON.parse(r.body).data.license.id === w.key.id), 15_000, 'the webhook');
    expect(JSON.parse(got.body)).toMatchObject({
      type: 'license.sharing_suspected',
      application_id: w.app.id,
      data: {
        license: { id: w.key.id, license_key: w.key.license_key, status: 'active' },
        window: { kind: 'ips_24h', start: dayStart.toISOString(), end: new Date(dayStart.getTime() + DAY).toISOString() },
        ips: 4,
        hwid_mismatches: 0,
        action: 'alert',
      },
    });
    // An alert only: the key still works.
    expect(await w.validate('203.0.113.10')).toBe('VALID');
  });

  it('stays at one event for the rest of the window, however much more traffic comes', async () => {
    for (let i = 20; i < 30; i++) expect(await w.validate(`203.0.113.${i}`)).toBe('VALID');
    await h.deps.usage.flush();
    clock.advance(HOUR);
    expect(await w.validate('203.0.113.99')).toBe('VALID');
    await h.deps.usage.flush();
    expect(await flags(w.key.id)).toHaveLength(1);
    expect(await suspected(w.app.id)).toHaveLength(1);
  });

  it('flags the key again in the next window when it crosses again', async () => {
    clock.set(new Date(Math.floor(clock.now().getTime() / DAY) * DAY + DAY + 2 * HOUR));
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) await w.validate(ip);
    await h.deps.usage.flush();
    expect(await flags(w.key.id)).toHaveLength(1);
    await w.validate('192.0.2.4');
    await h.deps.usage.flush();
    const all = await flags(w.key.id);
    expect(all.map((f) => [f.kind, f.ips])).toEqual([
      ['ips_24h', 4],
      ['ips_24h', 4],
    ]);
    expect(new Date(all[1]!.window_start).getTime() - new Date(all[0]!.window_start).getTime()).toBe(DAY);
    expect(await suspected(w.app.id)).toHaveLength(2);
  });

  it('flags once per window when several processes detect the same lines at once', async () => {
    const other = await watchedKey(s, { sharing: { max_ips_per_24h: 1 } });
    await other.validate('192.0.2.50');
    await h.deps.usage.flush(); // two IPs: flagged once here
    const line = { applicationId: other.app.id, licenseId: other.key.id, code: 'VALID', hwid: 'PC-1', ip: '192.0.2.51', at: clock.now(), count: 1, watched: true };
    // Ask again, concurrently, as two instances' flushes would: the flag exists, nothing more happens.
    expect(await Promise.all([detectSharing(h.deps, [line]), detectSharing(h.deps, [line])])).toEqual([0, 0]);
    await h.deps.db.query('delete from sharing_flags where license_id = $1', [other.key.id]);
    const made = await Promise.all(Array.from({ length: 4 }, () => detectSharing(h.deps, [line])));
    expect(made.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await flags(other.key.id)).toHaveLength(1);
  });

  it('a license deleted while its flag is being written is skipped, and the rest of the batch still flagged', async () => {
    const gone = await watchedKey(s, { sharing: { max_ips_per_24h: 1 } });
    const kept = await watchedKey(s, { sharing: { max_ips_per_24h: 1 } });
    await gone.validate('192.0.2.60');
    await kept.validate('192.0.2.61');
    await h.deps.usage.flush();
    await h.deps.db.query('delete from sharing_flags where license_id = any($1::int[])', [[gone.key.id, kept.key.id]]);
    const lineOf = (w: typeof gone, ip: string) => ({ applicationId: w.app.id, licenseId: w.key.id, code: 'VALID', hwid: 'PC-1', ip, at: clock.now(), count: 1, watched: true });
    let detected!: Promise<number>;
    // The first license is being deleted (not yet committed) when the batch is measured: its flag
    // waits on the delete, which then commits under it.
    await inOtherSession(h, async (tx) => {
      await tx`delete from licenses where id = ${gone.key.id}`;
      detected = detectSharing(h.deps, [lineOf(gone, '192.0.2.62'), lineOf(kept, '192.0.2.63')]);
      await untilLockWaiters(h.deps.db, 1, "the flag's insert waiting on the delete");
    });
    expect(await detected).toBe(1);
    expect(await flags(kept.key.id)).toHaveLength(1);
    expect(await flags(gone.key.id)).toHaveLength(0);
  });
});

describe('detection over HWID mismatches an hour, set on the plan', () => {
  it("flags a key past the plan's limit though the application's setting is off, and again the next hour", async () => {
    clock.set(new Date(Math.floor(clock.now().getTime() / DAY) * DAY + DAY + 10 * HOUR));
    const s = await h.seller();
    const w = await watchedKey(s, {}, { sharing: { max_hwid_mismatches_per_1h: 2 } });
    for (const hwid of ['PC-2', 'PC-3']) expect(await w.validate('198.51.100.1', hwid)).toBe('HWID_MISMATCH');
    await h.deps.usage.flush();
    expect(await flags(w.key.id)).toEqual([]);
    // The same mismatching device twice counts twice: these are attempts, not devices.
    expect(await w.validate('198.51.100.1', 'PC-3')).toBe('HWID_MISMATCH');
    await h.deps.usage.flush();
    expect(await flags(w.key.id)).toMatchObject([{ kind: 'hwid_mismatches_1h', hwid_mismatches: 3, ips: 1 }]);
    const [event] = await suspected(w.app.id);
    expect(event!.payload).toMatchObject({ window: { kind: 'hwid_mismatches_1h' }, hwid_mismatches: 3, ips: 1 });

    clock.advance(HOUR);
    for (const hwid of ['PC-4', 'PC-5', 'PC-6']) await w.validate('198.51.100.1', hwid);
    await h.deps.usage.flush();
    expect((await flags(w.key.id)).map((f) => f.kind)).toEqual(['hwid_mismatches_1h', 'hwid_mismatches_1h']);
  });
});

describe('action ban', () => {
  it('bans the license with reason sharing (audited as the system, license.banned emitted) and validate answers BANNED', async () => {
    const s = await h.seller();
    const w = await watchedKey(s, { sharing: { max_ips_per_24h: 2, action: 'ban' } });
    for (const ip of ['198.51.100.7', '198.51.100.8']) expect(await w.validate(ip)).toBe('VALID');
    await h.deps.usage.flush();

    expect(await w.validate('198.51.100.7')).toBe('BANNED');
    const lic = (await s.call('GET', `/api/licenses/${w.key.id}`)).json();
    expect(lic).toMatchObject({ status: 'banned', ban_reason: 'sharing' });
    expect(await flags(w.key.id)).toMatchObject([{ kind: 'ips_24h', ips: 3, status: 'banned', action: 'ban' }]);
    const [audit] = await h.deps.db.query<{ actor_kind: string; actor_name: string; details: any }>(
      `select actor_kind, actor_name, details from audit_logs where application_id = $1 and action = 'license.banned'`,
      [w.app.id],
    );
    expect(audit).toMatchObject({ actor_kind: 'system', actor_name: 'sharing detection', details: { reason: 'sharing', license_key: w.key.license_key, ips: 3 } });
    const events = await h.deps.db.query<{ type: string; payload: any }>(
      `select type, payload from outbox where application_id = $1 and type in ('license.sharing_suspected', 'license.banned') order by id`,
      [w.app.id],
    );
    expect(events.map((e) => [e.type, e.payload.license.status])).toEqual([
      ['license.sharing_suspected', 'banned'],
      ['license.banned', 'banned'],
    ]);
    await waitFor(() => rx.received.find((r) => r.headers['x-keycord-event'] === 'license.banned' && JSON.parse(r.body).data.license.id === w.key.id), 15_000, 'license.banned delivered');

    // A banned key is no longer watched: more traffic flags nothing.
    await w.validate('198.51.100.9');
    await h.deps.usage.flush();
    expect(await flags(w.key.id)).toHaveLength(1);
  });
});

describe('GET /api/applications/:id/sharing', () => {
  let owner: Seller;
  let w: Awaited<ReturnType<typeof watchedKey>>;
  beforeAll(async () => {
    owner = await h.seller();
    w = await watchedKey(owner, { sharing: { max_ips_per_24h: 1 } });
    await w.validate('198.51.100.77');
    await h.deps.usage.flush();
  });

  it('lists the flagged licenses with their figures, paged', async () => {
    const res = await owner.call('GET', `/api/applications/${w.app.id}/sharing`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-total-count']).toBe('1');
    expect(res.json()).toEqual([
      {
        id: expect.any(Number),
        license_id: w.key.id,
        license_key: w.key.license_key,
        window: { kind: 'ips_24h', start: expect.any(String), end: expect.any(String) },
        ips: 2,
        hwid_mismatches: 0,
        action: 'alert',
        status: 'open',
        resolved_by: null,
        resolved_at: null,
        flagged_at: clock.now().toISOString(),
      },
    ]);
    expect((await owner.call('GET', `/api/applications/${w.app.id}/sharing?page=2&per_page=1`)).json()).toEqual([]);
  });

  it('lets a viewer read it, and hides it from everyone else (404)', async () => {
    const viewer = await h.seller('viewer');
    expect((await owner.call('POST', `/api/applications/${w.app.id}/collaborators`, { login: viewer.username, role: 'viewer' })).statusCode).toBe(201);
    expect((await viewer.call('GET', `/api/applications/${w.app.id}/sharing`)).json()).toHaveLength(1);
    const stranger = await h.seller('stranger');
    const res = await stranger.call('GET', `/api/applications/${w.app.id}/sharing`);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('NOT_FOUND');
    expect((await h.call(null, { method: 'GET', url: `/api/applications/${w.app.id}/sharing` })).statusCode).toBe(401);
  });

  it('keeps 30 days', async () => {
    clock.advance(31 * DAY);
    const res = await owner.call('GET', `/api/applications/${w.app.id}/sharing`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual([]);
  });
});

describe('on the embedded database', () => {
  it('flags a key past its limit as on Postgres', async () => {
    const embedded = await startHarness({ database: 'pglite', clock, env: { USAGE_FLUSH_MS: '60000', SESSION_TTL_HOURS: '2160' } });
    try {
      const s = await embedded.seller();
      const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, sharing: { max_ips_per_24h: 1, max_hwid_mismatches_per_1h: 1 } } });
      const [key] = await s.generate(plan.id);
      const validate = (ip: string, hwid: string) =>
        embedded.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: key!.license_key, hwid }, remoteAddress: ip });
      for (const [ip, hwid] of [
        ['198.51.100.1', 'PC-1'],
        ['198.51.100.2', 'PC-2'],
        ['198.51.100.2', 'PC-3'],
      ])
        await validate(ip!, hwid!);
      await embedded.deps.usage.flush();
      const listed = (await s.call('GET', `/api/applications/${app.id}/sharing`)).json();
      expect(listed.map((f: { window: { kind: string }; ips: number; hwid_mismatches: number }) => [f.window.kind, f.ips, f.hwid_mismatches]).sort()).toEqual([
        ['hwid_mismatches_1h', 2, 2],
        ['ips_24h', 2, 2],
      ]);
    } finally {
      await embedded.close();
    }
  });
});
