import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeIp } from '../src/core/blacklists/ip-range.js';
import { expectError } from './support/expect-error.js';
import { verifySigned } from './support/client-signature.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { insertUserWithToken } from './support/user-tokens.js';

let h: Harness;
beforeAll(async () => {
  // The application cache keeps its default TTL: a change must show at once in this process anyway.
  h = await startHarness();
});
afterAll(() => h?.close());

const validate = (body: Record<string, unknown>, remoteAddress?: string) => h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: body, ...(remoteAddress ? { remoteAddress } : {}) });

async function blacklist(s: Seller, appId: number, type: string, value: string, reason?: string) {
  const res = await s.call('POST', `/api/applications/${appId}/blacklist`, { type, value, ...(reason ? { reason } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: number; value: string };
}

describe('normalizing blacklisted addresses', () => {
  it('clears host bits, compresses IPv6 and takes IPv4-mapped IPv6 as IPv4', () => {
    expect(normalizeIp('10.0.0.5/8')?.value).toBe('10.0.0.0/8');
    expect(normalizeIp('203.0.113.7')?.value).toBe('203.0.113.7');
    expect(normalizeIp('2001:DB8:0:0:1::1/32')?.value).toBe('2001:db8::/32');
    expect(normalizeIp('2001:db8::1')?.value).toBe('2001:db8::1');
    expect(normalizeIp('::ffff:192.0.2.1')?.value).toBe('192.0.2.1');
    expect(normalizeIp('::ffff:192.0.2.0/120')?.value).toBe('192.0.2.0/24');
    expect(normalizeIp('0.0.0.0/0')?.value).toBe('0.0.0.0/0');
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', '300.1.1.1', 'not-an-ip', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8']) expect(normalizeIp(bad), bad).toBeNull();
  });
});

describe('managing a blacklist', () => {
  it('a seller adds HWIDs and ranges (normalized), lists them a page at a time and removes one', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const hwid = await blacklist(s, app.id, 'hwid', '  CRACKER-PC  ', 'leaked keys');
    expect(hwid).toMatchObject({ type: 'hwid', value: 'CRACKER-PC', reason: 'leaked keys', application_id: app.id });
    expect((await blacklist(s, app.id, 'ip', '10.0.0.5/8')).value).toBe('10.0.0.0/8');
    expect((await blacklist(s, app.id, 'ip', '2001:DB8::1/32')).value).toBe('2001:db8::/32');
    expect((await blacklist(s, app.id, 'ip', '::ffff:192.0.2.1')).value).toBe('192.0.2.1');

    const page1 = await s.call('GET', `/api/applications/${app.id}/blacklist?per_page=3`);
    expect(page1.statusCode).toBe(200);
    expect(page1.headers['x-total-count']).toBe('4');
    expect(page1.json().map((e: { value: string }) => e.value)).toEqual(['CRACKER-PC', '10.0.0.0/8', '2001:db8::/32']);
    const page2 = await s.call('GET', `/api/applications/${app.id}/blacklist?per_page=3&page=2`);
    expect(page2.json().map((e: { value: string }) => e.value)).toEqual(['192.0.2.1']);

    // The same value twice (after normalizing) is a conflict.
    expect((await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'ip', value: '10.9.9.9/8' })).statusCode).toBe(409);

    const removed = await s.call('DELETE', `/api/blacklist/${hwid.id}`);
    expect(removed.statusCode).toBe(200);
    expect(removed.json()).toEqual({ message: 'Blacklist entry deleted' });
    expect((await s.call('DELETE', `/api/blacklist/${hwid.id}`)).statusCode).toBe(404);
    expect((await s.call('GET', `/api/applications/${app.id}/blacklist`)).headers['x-total-count']).toBe('3');

    const audit = await h.deps.db.query<{ action: string }>("select action from audit_logs where application_id = $1 and action like 'blacklist.%' order by id", [app.id]);
    expect(audit.map((a) => a.action)).toEqual(['blacklist.added', 'blacklist.added', 'blacklist.added', 'blacklist.added', 'blacklist.removed']);
  });

  it('refuses a bad range, an unknown type, over-long values and an empty HWID with 400', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const bodies = [
      { type: 'ip', value: '10.0.0.0/33' },
      { type: 'ip', value: '2001:db8::/129' },
      { type: 'ip', value: '999.1.1.1' },
      { type: 'ip', value: 'example.com' },
      { type: 'email', value: 'a@b.c' },
      { type: 'hwid', value: 'X'.repeat(257) },
      { type: 'hwid', value: '   ' },
      { type: 'hwid', value: 'PC', reason: 'r'.repeat(501) },
      { value: 'PC' },
    ];
    for (const body of bodies) {
      const res = await s.call('POST', `/api/applications/${app.id}/blacklist`, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
    expect((await s.call('GET', `/api/applications/${app.id}/blacklist`)).headers['x-total-count']).toBe('0');
  });

  it("another tenant's entries and application do not exist for a seller; a viewer reads but may not change", async () => {
    const owner = await h.seller();
    const { app } = await owner.setup();
    const entry = await blacklist(owner, app.id, 'hwid', 'PC-OWNED');

    const stranger = await h.seller();
    expect((await stranger.call('DELETE', `/api/blacklist/${entry.id}`)).statusCode).toBe(404);
    expect((await stranger.call('GET', `/api/applications/${app.id}/blacklist`)).statusCode).toBe(404);
    expect((await stranger.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'X' })).statusCode).toBe(404);

    const viewer = await h.seller();
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: viewer.username, role: 'viewer' })).statusCode).toBeLessThan(300);
    expect((await viewer.call('GET', `/api/applications/${app.id}/blacklist`)).json()).toHaveLength(1);
    expect((await viewer.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'X' })).statusCode).toBe(403);
    expect((await viewer.call('DELETE', `/api/blacklist/${entry.id}`)).statusCode).toBe(403);
  });

  it('an application holds at most 10,000 entries (409 LIMIT_REACHED)', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await h.deps.db.query("insert into blacklist_entries (application_id, type, value) select $1, 'hwid', 'PC-' || i from generate_series(1, 10000) i", [app.id]);
    const res = await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'ONE-MORE' });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('LIMIT_REACHED');
  });
});

describe('blacklisted clients', () => {
  it('a blacklisted HWID is told BLACKLISTED (signed), the key is not bound, and the attempt is logged', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    await blacklist(s, app.id, 'hwid', 'CRACKER-PC');

    const res = await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'CRACKER-PC' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ success: false, code: 'BLACKLISTED' });
    expect(verifySigned(app.public_key, res)).toBe(true);
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json()).toMatchObject({ status: 'inactive', hwids: [] });

    const expiry = await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key });
    expect(expiry.json()).toMatchObject({ success: true }); // check-expiration carries no HWID

    await h.deps.usage.flush();
    const logs = await h.deps.db.query<{ code: string; hwid: string | null }>('select code, hwid from validation_logs where application_id = $1', [app.id]);
    expect(logs).toEqual([{ code: 'BLACKLISTED', hwid: 'CRACKER-PC' }]);

    // Another device validates as usual.
    expect((await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'HONEST-PC' })).json().code).toBe('VALID');
  });

  it('an address inside a blacklisted IPv4 or IPv6 range is refused on validate and check-expiration; one outside is not', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    await blacklist(s, app.id, 'ip', '198.51.100.0/24');
    await blacklist(s, app.id, 'ip', '2001:db8:bad::/48');
    const body = { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' };

    for (const ip of ['198.51.100.77', '::ffff:198.51.100.1', '2001:db8:bad:1::5']) {
      const res = await validate(body, ip);
      expect(res.json(), ip).toMatchObject({ success: false, code: 'BLACKLISTED' });
      expect(verifySigned(app.public_key, res)).toBe(true);
      const expiry = await h.app.inject({ method: 'POST', url: '/api/licenses/check-expiration', remoteAddress: ip, payload: { app_id: app.app_id, license_key: lic!.license_key } });
      expect(expiry.json(), ip).toMatchObject({ success: false, code: 'BLACKLISTED' });
    }
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json()).toMatchObject({ status: 'inactive', hwids: [] });
    expect((await validate(body, '198.51.101.1')).json().code).toBe('VALID');
    expect((await validate(body, '2001:db8:bae::1')).json().code).toBe('VALID');

    await h.deps.usage.flush();
    const logs = await h.deps.db.query<{ code: string; ip: string }>("select code, ip from validation_logs where application_id = $1 and code = 'BLACKLISTED'", [app.id]);
    expect(logs.length).toBe(6);
  });

  it('removing the entry lets the client through at once; a change made elsewhere shows once the application is re-read', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const body = { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' };
    expect((await validate(body)).json().code).toBe('VALID'); // the application and its (empty) list are now cached

    const entry = await blacklist(s, app.id, 'hwid', 'PC-1');
    expect((await validate(body)).json().code).toBe('BLACKLISTED');
    await s.call('DELETE', `/api/blacklist/${entry.id}`);
    expect((await validate(body)).json().code).toBe('VALID');

    // Another instance adds an entry: the version moves in the database; this process holds its
    // cached application until APP_CACHE_TTL_MS ends (simulated by forgetting it), then reloads the list.
    await h.deps.db.query("insert into blacklist_entries (application_id, type, value) values ($1, 'hwid', 'PC-1')", [app.id]);
    await h.deps.db.query('update applications set blacklist_version = blacklist_version + 1 where id = $1', [app.id]);
    expect((await validate(body)).json().code).toBe('VALID');
    h.deps.apps.invalidate(app.app_id);
    expect((await validate(body)).json().code).toBe('BLACKLISTED');
  });

  it('user accounts: sign-up, login and the license check answer BLACKLISTED for a blacklisted HWID, and nothing is created', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic, other] = await s.generate(plan.id, 2);
    const post = (route: string, body: Record<string, unknown>) => client(h, `/api/user-auth/${route}`, { app_id: app.app_id, ...body });
    expect((await post('create', { license_key: lic!.license_key, username: 'player1', password: 'hunter2hunter2', hwid: 'PC-A' })).statusCode).toBe(201);
    await blacklist(s, app.id, 'hwid', 'PC-BAD');

    const create = await post('create', { license_key: other!.license_key, username: 'player2', password: 'hunter2hunter2', hwid: 'PC-BAD' });
    expect(create.statusCode).toBe(200);
    expect(create.json()).toMatchObject({ success: false, code: 'BLACKLISTED' });
    expect(verifySigned(app.public_key, create)).toBe(true);
    const login = await post('login', { username: 'player1', password: 'hunter2hunter2', hwid: 'PC-BAD' });
    expect(login.json()).toMatchObject({ success: false, code: 'BLACKLISTED' });
    expect((await post('validate-license', { license_key: lic!.license_key, hwid: 'PC-BAD' })).json()).toMatchObject({ code: 'BLACKLISTED' });
    expect((await post('update-license', { old_license_key: lic!.license_key, new_license_key: other!.license_key, hwid: 'PC-BAD' })).json()).toMatchObject({ code: 'BLACKLISTED' });

    const users = await h.deps.db.query<{ username: string; hwid: string }>('select username, hwid from app_users where application_id = $1', [app.id]);
    expect(users).toEqual([{ username: 'player1', hwid: 'PC-A' }]);
    expect((await s.call('GET', `/api/licenses/${other!.id}`)).json()).toMatchObject({ status: 'inactive', hwids: [] });
  });

  it('private variables and file downloads refuse a blacklisted HWID or address (403 BLACKLISTED), by license and by user token alike', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'api_key', value: 'tok_private', public: false })).statusCode).toBe(201);
    const body = multipart([{ name: 'file', filename: 'tool.bin', data: Buffer.from('the tool') }]);
    const file = await h.app.inject({ method: 'POST', url: `/api/applications/${app.id}/files`, payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${s.token}` } });
    expect(file.statusCode, file.body).toBe(201);
    const fileId = (file.json() as { id: number }).id;
    const { token } = await insertUserWithToken(h, app, lic!.id, 'player1');
    const variable = (query: Record<string, string>, headers: Record<string, string> = {}, remoteAddress?: string) =>
      h.app.inject({ method: 'GET', url: '/api/variables/api_key', query: { app_id: app.app_id, ...query }, headers, ...(remoteAddress ? { remoteAddress } : {}) });
    const download = (query: Record<string, string>, remoteAddress?: string) =>
      h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query: { app_id: app.app_id, ...query }, ...(remoteAddress ? { remoteAddress } : {}) });

    // Before any entry: both paths open both resources.
    expect((await variable({ license_key: lic!.license_key, hwid: 'PC-1' })).json()).toMatchObject({ value: 'tok_private' });
    expect((await variable({}, { authorization: `Bearer ${token}` }, '203.0.113.9')).json()).toMatchObject({ value: 'tok_private' });
    expect((await download({ license_key: lic!.license_key, hwid: 'PC-1' })).body).toBe('the tool');

    await blacklist(s, app.id, 'hwid', 'PC-1');
    await blacklist(s, app.id, 'ip', '203.0.113.0/24');
    for (const res of [
      await variable({ license_key: lic!.license_key, hwid: 'PC-1' }),
      await variable({}, { authorization: `Bearer ${token}` }, '203.0.113.9'),
      await variable({ hwid: 'PC-1' }, { authorization: `Bearer ${token}` }),
      await download({ license_key: lic!.license_key, hwid: 'PC-1' }),
      await download({ license_key: lic!.license_key, hwid: 'PC-2' }, '203.0.113.50'),
    ]) {
      const err = expectError(res, 403, 'FORBIDDEN');
      expect(err.message).toContain('BLACKLISTED');
    }
    // The user token from an address outside the range still works.
    expect((await variable({}, { authorization: `Bearer ${token}` }, '198.51.100.1')).json()).toMatchObject({ value: 'tok_private' });
  });
});
