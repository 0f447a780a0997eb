import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { client, startHarness, type Harness, type LicenseView, type Seller } from './support/harness.js';

const START = new Date('2026-02-01T00:00:00Z');
const DAY = 86_400_000;
const clock = fixedClock(START);
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock });
});
afterAll(() => h?.close());

const validate = (appId: string, licenseKey: string, hwid?: string) => client(h, '/api/licenses/validate', { app_id: appId, license_key: licenseKey, ...(hwid ? { hwid } : {}) });
const get = async (s: Seller, id: number) => (await s.call('GET', `/api/licenses/${id}`)).json();
const at = (ms: number) => new Date(ms).toISOString();

/** `<url>; rel="next", …` → { next: { path, query } } */
function parseLinks(header: unknown): Record<string, { path: string; query: Record<string, string> }> {
  const out: Record<string, { path: string; query: Record<string, string> }> = {};
  for (const part of String(header ?? '').split(',')) {
    const m = /<([^>]+)>;\s*rel="(\w+)"/.exec(part.trim());
    if (!m) continue;
    const u = new URL(m[1]!, 'http://x');
    out[m[2]!] = { path: u.pathname, query: Object.fromEntries(u.searchParams) };
  }
  return out;
}

/** The fields API.md lists for a license in lists and `GET /api/licenses/:id`. */
const LICENSE_FIELDS = ['id', 'license_key', 'status', 'plan', 'activation_date', 'expires_at', 'hwid', 'hwids', 'ip_address', 'last_used', 'notes', 'discord_user_id', 'created_at', 'updated_at'];

describe('generating keys', () => {
  it('makes random keys of 32 upper-case hex characters, answered exactly as API.md shows', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 3, format: 'random' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['licenses']);
    expect(body.licenses).toHaveLength(3);
    for (const l of body.licenses) {
      expect(Object.keys(l).sort()).toEqual(['created_at', 'id', 'license_key', 'plan', 'status', 'updated_at']);
      expect(l).toEqual({
        id: expect.any(Number),
        license_key: expect.stringMatching(/^[0-9A-F]{32}$/),
        status: 'inactive',
        created_at: expect.any(String),
        updated_at: expect.any(String),
        plan: { id: plan.id, name: plan.name, duration_days: 30 },
      });
    }
    expect(new Set(body.licenses.map((l: LicenseView) => l.license_key)).size).toBe(3);
  });

  it('defaults to the random format and puts an (upper-cased) prefix in front', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 2, prefix: 'vip-' });
    expect(res.statusCode).toBe(200);
    for (const l of res.json().licenses) expect(l.license_key).toMatch(/^VIP-[0-9A-F]{32}$/);
  });

  it('follows a custom mask: X = A–Z/0–9, # = digit, @ = letter, the rest literal', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const grouped = await s.generate(plan.id, 5, { format: 'custom', custom_format: 'XXXX-XXXX-XXXX-XXXX' });
    for (const l of grouped) expect(l.license_key).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    const mixed = await s.generate(plan.id, 5, { format: 'custom', custom_format: 'KC-@@@@@@-##########-XXXXXX', prefix: 'PRO_' });
    for (const l of mixed) expect(l.license_key).toMatch(/^PRO_KC-[A-Z]{6}-\d{10}-[A-Z0-9]{6}$/);
  });

  it('makes 1000 unique keys in one request', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const keys = await s.generate(plan.id, 1000);
    expect(keys).toHaveLength(1000);
    expect(new Set(keys.map((k) => k.license_key)).size).toBe(1000);
    const list = await s.call('GET', `/api/applications/${app.id}/licenses?per_page=1`);
    expect(list.headers['x-total-count']).toBe('1000');
  });

  it('stores notes and the Discord user given at generation', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id, 1, { notes: 'for the giveaway', discord_user_id: '123456789012345678' });
    expect(await get(s, l!.id)).toMatchObject({ notes: 'for the giveaway', discord_user_id: '123456789012345678' });
  });
});

describe('reading licenses', () => {
  it('shows one license with every field API.md lists', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    const res = await s.call('GET', `/api/licenses/${l!.id}`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    for (const field of LICENSE_FIELDS) expect(body, field).toHaveProperty(field);
    expect(body).toMatchObject({
      id: l!.id,
      license_key: l!.license_key,
      status: 'inactive',
      plan: { id: plan.id, name: plan.name, duration_days: 30 },
      activation_date: null,
      expires_at: null,
      hwid: null,
      hwids: [],
      ip_address: null,
      last_used: null,
      notes: null,
      discord_user_id: null,
    });
  });

  it('lists newest first with X-Total-Count and Link headers (first, last, prev, next)', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const ids = (await s.generate(plan.id, 5)).map((l) => l.id).sort((a, b) => b - a);
    const url = `/api/applications/${app.id}/licenses`;

    const p1 = await s.call('GET', `${url}?per_page=2`);
    expect(p1.statusCode).toBe(200);
    expect(p1.headers['x-total-count']).toBe('5');
    const links1 = parseLinks(p1.headers.link);
    expect(links1.first).toEqual({ path: url, query: { page: '1', per_page: '2' } });
    expect(links1.next).toEqual({ path: url, query: { page: '2', per_page: '2' } });
    expect(links1.last).toEqual({ path: url, query: { page: '3', per_page: '2' } });
    expect(links1.prev).toBeUndefined();

    const p2 = await s.call('GET', `${url}?page=2&per_page=2`);
    const links2 = parseLinks(p2.headers.link);
    expect(links2.prev?.query).toEqual({ page: '1', per_page: '2' });
    expect(links2.next?.query).toEqual({ page: '3', per_page: '2' });

    const p3 = await s.call('GET', `${url}?page=3&per_page=2`);
    expect(parseLinks(p3.headers.link).next).toBeUndefined();
    const seen = [p1, p2, p3].flatMap((r) => r.json().map((l: { id: number }) => l.id));
    expect(seen).toEqual(ids);

    const beyond = await s.call('GET', `${url}?page=9&per_page=2`);
    expect(beyond.statusCode).toBe(200);
    expect(beyond.json()).toEqual([]);
    expect(beyond.headers['x-total-count']).toBe('5');
  });

  it('keeps the filters in the Link header', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    await s.generate(plan.id, 3);
    const res = await s.call('GET', `/api/applications/${app.id}/licenses?status=inactive&per_page=1`);
    expect(parseLinks(res.headers.link).next?.query).toEqual({ status: 'inactive', page: '2', per_page: '1' });
  });

  it('defaults to 50 per page', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    await s.generate(plan.id, 51);
    const res = await s.call('GET', `/api/applications/${app.id}/licenses`);
    expect(res.json()).toHaveLength(50);
    expect(res.headers['x-total-count']).toBe('51');
    expect(parseLinks(res.headers.link).next?.query).toEqual({ page: '2', per_page: '50' });
  });

  it('filters by status, plan, search (key or notes, any case) and Discord user', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const weekly = (await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Weekly', duration_days: 7 })).json();
    const [active, banned, plain] = await s.generate(plan.id, 3);
    const [noted] = await s.generate(weekly.id, 1, { notes: 'Reseller BATCH seven', discord_user_id: '223456789012345678' });
    await validate(app.app_id, active!.license_key, 'PC');
    await s.call('POST', `/api/licenses/${banned!.id}/ban`, { reason: 'fraud' });

    const ids = async (query: string) => {
      const res = await s.call('GET', `/api/applications/${app.id}/licenses?${query}`);
      expect(res.statusCode, query).toBe(200);
      expect(res.headers['x-total-count'], query).toBe(String(res.json().length));
      return (res.json() as { id: number }[]).map((l) => l.id).sort((a, b) => a - b);
    };
    const sorted = (...xs: number[]) => xs.sort((a, b) => a - b);
    expect(await ids('status=active')).toEqual([active!.id]);
    expect(await ids('status=banned')).toEqual([banned!.id]);
    expect(await ids('status=inactive')).toEqual(sorted(plain!.id, noted!.id));
    expect(await ids('status=expired')).toEqual([]);
    expect(await ids(`plan_id=${weekly.id}`)).toEqual([noted!.id]);
    expect(await ids(`plan_id=${plan.id}`)).toEqual(sorted(active!.id, banned!.id, plain!.id));
    expect(await ids(`search=${plain!.license_key.slice(5, 15).toLowerCase()}`)).toEqual([plain!.id]);
    expect(await ids('search=batch%20SEVEN')).toEqual([noted!.id]);
    expect(await ids('discord_user_id=223456789012345678')).toEqual([noted!.id]);
    expect(await ids(`status=inactive&plan_id=${plan.id}`)).toEqual([plain!.id]);
  });

  it('counts a key past its expiry as expired in the status filter', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 1 } });
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'PC');
    clock.advance(2 * DAY);
    try {
      const res = await s.call('GET', `/api/applications/${app.id}/licenses?status=expired`);
      expect(res.json().map((x: { id: number }) => x.id)).toEqual([l!.id]);
      expect(res.json()[0].status).toBe('expired');
      expect((await s.call('GET', `/api/applications/${app.id}/licenses?status=active`)).json()).toEqual([]);
    } finally {
      clock.advance(-2 * DAY);
    }
  });
});

describe('notes', () => {
  it('sets, replaces and clears the notes, answering the license', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    const set = await s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: 'paid via PayPal' });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ id: l!.id, license_key: l!.license_key, notes: 'paid via PayPal' });
    const long = 'n'.repeat(1000);
    expect((await s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: long })).json().notes).toBe(long);
    expect((await s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: null })).json().notes).toBeNull();
    expect((await get(s, l!.id)).notes).toBeNull();
  });
});

describe('deleting a license', () => {
  it('answers {message: "License deleted"}, then the key is gone for the seller and the client', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l, other] = await s.generate(plan.id, 2);
    const res = await s.call('DELETE', `/api/licenses/${l!.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'License deleted' });
    expect((await s.call('GET', `/api/licenses/${l!.id}`)).statusCode).toBe(404);
    expect((await s.call('DELETE', `/api/licenses/${l!.id}`)).statusCode).toBe(404);
    expect((await validate(app.app_id, l!.license_key, 'PC')).json().code).toBe('NOT_FOUND');
    expect((await s.call('GET', `/api/applications/${app.id}/licenses`)).json().map((x: { id: number }) => x.id)).toEqual([other!.id]);
  });
});

describe('resetting the HWID', () => {
  it('unbinds the device, answers the PoPaAP body, and the key activates on a new device without moving expires_at', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'OLD-PC');
    const activated = await get(s, l!.id);
    expect(activated).toMatchObject({ status: 'active', hwid: 'OLD-PC', expires_at: at(START.getTime() + 30 * DAY) });
    expect((await validate(app.app_id, l!.license_key, 'NEW-PC')).json().code).toBe('HWID_MISMATCH');

    clock.advance(DAY);
    try {
      const res = await s.call('POST', `/api/licenses/${l!.id}/reset-hwid`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        message: 'HWID reset and license disabled',
        license: { id: l!.id, license_key: l!.license_key, status: 'inactive', hwid: null },
      });
      const reset = await get(s, l!.id);
      expect(reset).toMatchObject({ status: 'inactive', hwid: null, hwids: [], expires_at: activated.expires_at, activation_date: activated.activation_date });

      const again = (await validate(app.app_id, l!.license_key, 'NEW-PC')).json();
      expect(again).toMatchObject({ success: true, code: 'VALID' });
      expect(again.license.expires_at).toBe(activated.expires_at);
      expect(await get(s, l!.id)).toMatchObject({ status: 'active', hwid: 'NEW-PC', hwids: ['NEW-PC'], expires_at: activated.expires_at });
      expect((await validate(app.app_id, l!.license_key, 'OLD-PC')).json().code).toBe('HWID_MISMATCH');
    } finally {
      clock.advance(-DAY);
    }
  });

  it('ignores the cooldown for the seller: two resets in a row both succeed', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { hwid_reset_cooldown_hours: 24 } });
    const [l] = await s.generate(plan.id);
    for (const hwid of ['A', 'B']) {
      await validate(app.app_id, l!.license_key, hwid);
      const res = await s.call('POST', `/api/licenses/${l!.id}/reset-hwid`);
      expect(res.statusCode).toBe(200);
      expect(res.json().license.status).toBe('inactive');
    }
  });
});

describe('banning and unbanning', () => {
  it('bans with a reason; the client gets BANNED; unbanning restores the previous state', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'PC');
    const banned = await s.call('POST', `/api/licenses/${l!.id}/ban`, { reason: 'chargeback' });
    expect(banned.statusCode).toBe(200);
    expect(banned.json()).toMatchObject({ id: l!.id, status: 'banned', hwid: 'PC' });
    expect((await validate(app.app_id, l!.license_key, 'PC')).json().code).toBe('BANNED');

    const unbanned = await s.call('POST', `/api/licenses/${l!.id}/unban`);
    expect(unbanned.statusCode).toBe(200);
    expect(unbanned.json()).toMatchObject({ id: l!.id, status: 'active', hwid: 'PC' });
    expect((await validate(app.app_id, l!.license_key, 'PC')).json().code).toBe('VALID');
  });

  it('bans without a body, and an unbanned never-used key is inactive again', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    const banned = await s.call('POST', `/api/licenses/${l!.id}/ban`);
    expect(banned.statusCode, banned.body).toBe(200);
    expect(banned.json().status).toBe('banned');
    expect((await s.call('POST', `/api/licenses/${l!.id}/unban`)).json().status).toBe('inactive');
  });

  it('an unbanned key of an application without the HWID lock, activated with no HWID, is active again', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { hwid_lock: false } });
    const [l] = await s.generate(plan.id);
    expect((await validate(app.app_id, l!.license_key)).json().code).toBe('VALID');
    expect(await get(s, l!.id)).toMatchObject({ status: 'active', hwids: [] });
    await s.call('POST', `/api/licenses/${l!.id}/ban`);
    const unbanned = await s.call('POST', `/api/licenses/${l!.id}/unban`);
    expect(unbanned.json()).toMatchObject({ status: 'active', hwids: [] });
  });

  it('an unbanned key that was reset waits for its next activation, as the reset left it', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'PC');
    expect((await s.call('POST', `/api/licenses/${l!.id}/reset-hwid`)).json().license.status).toBe('inactive');
    await s.call('POST', `/api/licenses/${l!.id}/ban`);
    expect((await s.call('POST', `/api/licenses/${l!.id}/unban`)).json().status).toBe('inactive');
  });
});

describe('extending a license', () => {
  it('adds days to expires_at of an activated key', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'PC');
    const res = await s.call('POST', `/api/licenses/${l!.id}/extend`, { days: 10 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: l!.id, status: 'active', expires_at: at(START.getTime() + 40 * DAY) });
    expect((await get(s, l!.id)).expires_at).toBe(at(START.getTime() + 40 * DAY));
  });

  it('adds days to the duration of a key not yet activated: the clock still starts at activation', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    const res = await s.call('POST', `/api/licenses/${l!.id}/extend`, { days: 5 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'inactive', expires_at: null, activation_date: null });
    clock.advance(3 * DAY);
    try {
      const v = (await validate(app.app_id, l!.license_key, 'PC')).json();
      expect(v.code).toBe('VALID');
      expect(v.license.expires_at).toBe(at(START.getTime() + 3 * DAY + 35 * DAY));
    } finally {
      clock.advance(-3 * DAY);
    }
  });

  it('brings an expired key back when the new end lies in the future', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 1 } });
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'PC');
    clock.advance(2 * DAY);
    try {
      expect((await validate(app.app_id, l!.license_key, 'PC')).json().code).toBe('EXPIRED');
      const res = await s.call('POST', `/api/licenses/${l!.id}/extend`, { days: 7 });
      expect(res.json()).toMatchObject({ status: 'active', expires_at: at(START.getTime() + 8 * DAY) });
      expect((await validate(app.app_id, l!.license_key, 'PC')).json().code).toBe('VALID');
    } finally {
      clock.advance(-2 * DAY);
    }
  });

  it('an expired key reset after its end comes back inactive, as unban would bring it back', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { duration_days: 1 } });
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key, 'PC');
    clock.advance(2 * DAY);
    try {
      expect((await validate(app.app_id, l!.license_key, 'PC')).json().code).toBe('EXPIRED');
      expect((await s.call('POST', `/api/licenses/${l!.id}/reset-hwid`)).json().license.status).toBe('expired');
      const res = await s.call('POST', `/api/licenses/${l!.id}/extend`, { days: 7 });
      expect(res.json()).toMatchObject({ status: 'inactive', hwids: [], expires_at: at(START.getTime() + 8 * DAY) });
      const v = (await validate(app.app_id, l!.license_key, 'PC2')).json();
      expect(v.code).toBe('VALID');
      expect(v.license).toMatchObject({ status: 'active', expires_at: at(START.getTime() + 8 * DAY) });
    } finally {
      clock.advance(-2 * DAY);
    }
  });

  it('a key without the HWID lock, reset and activated again before its end, comes back active', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { hwid_lock: false }, plan: { duration_days: 1 } });
    const [l] = await s.generate(plan.id);
    await validate(app.app_id, l!.license_key);
    await s.call('POST', `/api/licenses/${l!.id}/reset-hwid`);
    clock.advance(DAY / 2);
    try {
      expect((await validate(app.app_id, l!.license_key)).json().license.status).toBe('active');
      clock.advance(DAY);
      expect((await validate(app.app_id, l!.license_key)).json().code).toBe('EXPIRED');
      const res = await s.call('POST', `/api/licenses/${l!.id}/extend`, { days: 7 });
      expect(res.json()).toMatchObject({ status: 'active', hwids: [] });
    } finally {
      clock.advance(-DAY * 1.5);
    }
  });
});

describe("the caller's licenses across applications", () => {
  it('spans every application of the caller and nothing of anyone else', async () => {
    const s = await h.seller();
    const other = await h.seller();
    const one = await s.setup();
    const two = await s.setup();
    const mine = [...(await s.generate(one.plan.id, 2)), ...(await s.generate(two.plan.id, 1))];
    const theirs = await other.setup();
    await other.generate(theirs.plan.id, 4);

    const res = await s.call('GET', '/api/licenses/mine');
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-total-count']).toBe('3');
    const got = res.json() as { id: number; plan: { id: number } }[];
    expect(got.map((l) => l.id).sort((a, b) => a - b)).toEqual(mine.map((l) => l.id).sort((a, b) => a - b));
    expect(new Set(got.map((l) => l.plan.id))).toEqual(new Set([one.plan.id, two.plan.id]));

    const filtered = await s.call('GET', `/api/licenses/mine?plan_id=${two.plan.id}`);
    expect(filtered.json().map((l: { id: number }) => l.id)).toEqual([mine[2]!.id]);
    expect((await other.call('GET', '/api/licenses/mine')).headers['x-total-count']).toBe('4');
  });
});

describe('users of a license', () => {
  it('answers an empty list for a license nobody registered with', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    const res = await s.call('GET', `/api/licenses/${l!.id}/users`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([]);
  });
});
