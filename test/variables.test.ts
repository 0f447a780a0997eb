import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_VARIABLES_PER_PAGE } from '../src/core/variables/variable-rules.js';
import { expectError } from './support/expect-error.js';
import { verifySigned } from './support/client-signature.js';
import { startHarness, type AppView, type Harness, type Seller } from './support/harness.js';
import { insertUserWithToken, userTokenFor } from './support/user-tokens.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const readVariable = (name: string, query: Record<string, string>, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'GET', url: `/api/variables/${encodeURIComponent(name)}`, query, headers });

async function addVariable(s: Seller, appId: number, body: Record<string, unknown>) {
  const res = await s.call('POST', `/api/applications/${appId}/variables`, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: number; name: string; value: string; public: boolean; created_at: string };
}

/** An app user bound to a license, inserted directly, and a user token for them. */
const userToken = (app: AppView, licenseId: number | null, username?: string) => insertUserWithToken(h, app, licenseId, username);

describe('variables: the seller side', () => {
  it('creates, lists (paged, with X-Total-Count and Link), changes and deletes variables', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const created = await addVariable(s, app.id, { name: 'download_url', value: 'https://example.test/v2', public: true });
    expect(created).toMatchObject({ application_id: app.id, name: 'download_url', value: 'https://example.test/v2', public: true });
    expect(new Date(created.created_at).toISOString()).toBe(created.created_at);
    // Private unless said otherwise.
    expect((await addVariable(s, app.id, { name: 'api.key-2', value: 's3cr3t' })).public).toBe(false);
    await addVariable(s, app.id, { name: 'Z_last', value: '' });

    const page1 = await s.call('GET', `/api/applications/${app.id}/variables?per_page=2`);
    expect(page1.statusCode).toBe(200);
    expect(page1.headers['x-total-count']).toBe('3');
    expect(page1.headers.link).toContain('rel="next"');
    expect(page1.json().map((v: { name: string }) => v.name)).toEqual(['Z_last', 'api.key-2']);
    const page2 = await s.call('GET', `/api/applications/${app.id}/variables?per_page=2&page=2`);
    expect(page2.json().map((v: { name: string }) => v.name)).toEqual(['download_url']);

    const changed = await s.call('PUT', `/api/variables/${created.id}`, { value: 'https://example.test/v3', public: false });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ id: created.id, name: 'download_url', value: 'https://example.test/v3', public: false });
    const renamed = await s.call('PUT', `/api/variables/${created.id}`, { name: 'download.url' });
    expect(renamed.json()).toMatchObject({ name: 'download.url', value: 'https://example.test/v3' });

    const deleted = await s.call('DELETE', `/api/variables/${created.id}`);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ message: 'Variable deleted' });
    expectError(await s.call('DELETE', `/api/variables/${created.id}`), 404, 'NOT_FOUND');
    expect((await s.call('GET', `/api/applications/${app.id}/variables`)).headers['x-total-count']).toBe('2');
  });

  it('audits every change without writing the value into the log', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const v = await addVariable(s, app.id, { name: 'license_server_token', value: 'tok_very_secret_value' });
    await s.call('PUT', `/api/variables/${v.id}`, { value: 'tok_another_secret' });
    await s.call('DELETE', `/api/variables/${v.id}`);
    const logs = await s.call('GET', `/api/applications/${app.id}/logs?type=audit&per_page=500`);
    const actions = logs.json().map((l: { action: string }) => l.action);
    expect(actions).toEqual(expect.arrayContaining(['variable.created', 'variable.updated', 'variable.deleted']));
    expect(logs.body).not.toContain('secret');
    expect(logs.body).toContain(`variable:${v.id}`);
  });

  it('refuses a name already used in the application with 409, also when renaming; other apps may reuse it', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const { app: other } = await s.setup();
    await addVariable(s, app.id, { name: 'motd', value: 'hello' });
    const second = await addVariable(s, app.id, { name: 'motd2', value: 'hi' });
    expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'motd', value: 'again' }), 409, 'CONFLICT');
    expectError(await s.call('PUT', `/api/variables/${second.id}`, { name: 'motd' }), 409, 'CONFLICT');
    expect((await s.call('GET', `/api/applications/${app.id}/variables`)).json().find((v: { name: string }) => v.name === 'motd').value).toBe('hello');
    // Names are case-sensitive, and another application has its own namespace.
    await addVariable(s, app.id, { name: 'MOTD', value: 'upper' });
    await addVariable(s, other.id, { name: 'motd', value: 'other app' });
  });

  it('refuses bad names and values over 64 KB with 400 naming the field', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    for (const name of ['', 'has space', 'x'.repeat(65), 'ünïcode', 'a/b', 'semi;colon', 'new\nline']) {
      const err = expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name, value: 'v' }), 400, 'VALIDATION_ERROR');
      expect(
        err.details?.map((d) => d.path),
        JSON.stringify(name),
      ).toEqual(['body.name']);
    }
    expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'x'.repeat(64), value: 'v' })).statusCode).toBe(201);
    // 64 KB measured in UTF-8 bytes: 32 769 two-byte characters are over, 65 536 ASCII are not.
    const err = expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'big', value: 'é'.repeat(32_769) }), 400, 'VALIDATION_ERROR');
    expect(err.details?.[0]?.path).toBe('body.value');
    expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'big', value: 'a'.repeat(65_536) })).statusCode).toBe(201);
    expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'big2', value: 'a'.repeat(65_537) }), 400, 'VALIDATION_ERROR');
    expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'num', value: 42 }), 400, 'VALIDATION_ERROR');
    expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'pub', value: 'v', public: 'yes' }), 400, 'VALIDATION_ERROR');
    expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'nul', value: 'a\u0000b' }), 400, 'VALIDATION_ERROR');
    expectError(await s.call('PUT', `/api/variables/abc`, { value: 'v' }), 400, 'VALIDATION_ERROR');
    // Control characters (JSON writes each as six) are refused, on create and on change; tab, line feed and carriage return are text.
    const control = expectError(await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'ctl', value: 'a\u0001b' }), 400, 'VALIDATION_ERROR');
    expect(control.details?.map((d) => d.path)).toEqual(['body.value']);
    const text = await addVariable(s, app.id, { name: 'lines', value: 'a\tb\r\nc' });
    expectError(await s.call('PUT', `/api/variables/${text.id}`, { value: '\u001b[31m' }), 400, 'VALIDATION_ERROR');
  });

  it(`holds at most ${MAX_VARIABLES_PER_PAGE} variables a page, whatever per_page asks, and says so in the Link header`, async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const names = Array.from({ length: MAX_VARIABLES_PER_PAGE + 5 }, (_, i) => `v${String(i).padStart(3, '0')}`);
    await h.deps.db.query(`insert into variables (application_id, name, value) select $1, n, 'x' from unnest($2::text[]) n`, [app.id, names]);
    const first = await s.call('GET', `/api/applications/${app.id}/variables?per_page=500`);
    expect(first.statusCode).toBe(200);
    expect(first.json().map((v: { name: string }) => v.name)).toEqual(names.slice(0, MAX_VARIABLES_PER_PAGE));
    expect(first.headers['x-total-count']).toBe(String(names.length));
    expect(first.headers.link).toContain(`per_page=${MAX_VARIABLES_PER_PAGE}&page=2>; rel="next"`);
    const second = await s.call('GET', `/api/applications/${app.id}/variables?page=2&per_page=500`);
    expect(second.json().map((v: { name: string }) => v.name)).toEqual(names.slice(MAX_VARIABLES_PER_PAGE));
  });
});

describe('variables: who may touch them', () => {
  it('answers 401 without a token', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    expectError(await h.app.inject({ method: 'GET', url: `/api/applications/${app.id}/variables` }), 401, 'UNAUTHORIZED');
    expectError(await h.app.inject({ method: 'POST', url: `/api/applications/${app.id}/variables`, payload: { name: 'a', value: 'b' } }), 401, 'UNAUTHORIZED');
  });

  it("hides another tenant's variables behind 404 and leaves them untouched", async () => {
    const owner = await h.seller('owner');
    const stranger = await h.seller('stranger');
    const { app } = await owner.setup();
    const v = await addVariable(owner, app.id, { name: 'secret', value: 'mine' });
    expectError(await stranger.call('GET', `/api/applications/${app.id}/variables`), 404, 'NOT_FOUND');
    expectError(await stranger.call('POST', `/api/applications/${app.id}/variables`, { name: 'planted', value: 'x' }), 404, 'NOT_FOUND');
    const put = expectError(await stranger.call('PUT', `/api/variables/${v.id}`, { value: 'stolen' }), 404, 'NOT_FOUND');
    expect(put.message).toBe('Variable not found');
    expectError(await stranger.call('DELETE', `/api/variables/${v.id}`), 404, 'NOT_FOUND');
    // Exactly as for an id nobody has.
    expect(put).toEqual(expectError(await stranger.call('PUT', '/api/variables/2147483647', { value: 'x' }), 404, 'NOT_FOUND'));
    const list = (await owner.call('GET', `/api/applications/${app.id}/variables`)).json();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'secret', value: 'mine' });
  });

  it('lets a viewer read but not change (403), and a manager change', async () => {
    const owner = await h.seller('owner');
    const viewer = await h.seller('viewer');
    const manager = await h.seller('manager');
    const { app } = await owner.setup();
    for (const [who, role] of [
      [viewer, 'viewer'],
      [manager, 'manager'],
    ] as const) {
      expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: who.username, role })).statusCode).toBe(201);
    }
    const v = await addVariable(owner, app.id, { name: 'motd', value: 'hello' });
    expect((await viewer.call('GET', `/api/applications/${app.id}/variables`)).json()).toHaveLength(1);
    expectError(await viewer.call('POST', `/api/applications/${app.id}/variables`, { name: 'x', value: 'y' }), 403, 'FORBIDDEN');
    expectError(await viewer.call('PUT', `/api/variables/${v.id}`, { value: 'changed' }), 403, 'FORBIDDEN');
    expectError(await viewer.call('DELETE', `/api/variables/${v.id}`), 403, 'FORBIDDEN');
    expect((await manager.call('PUT', `/api/variables/${v.id}`, { value: 'by manager' })).statusCode).toBe(200);
    expect((await manager.call('POST', `/api/applications/${app.id}/variables`, { name: 'x', value: 'y' })).statusCode).toBe(201);
    expect((await manager.call('DELETE', `/api/variables/${v.id}`)).statusCode).toBe(200);
  });
});

describe('variables: the client side', () => {
  it('hands out a public variable to anyone with the app_id, signed, echoing the nonce and the variable asked for', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await addVariable(s, app.id, { name: 'latest_version', value: '2.4.1', public: true });
    const res = await readVariable('latest_version', { app_id: app.app_id, nonce: 'n0nce-123456' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ name: 'latest_version', value: '2.4.1', nonce: 'n0nce-123456', request: { route: 'GET /api/variables/:name', name: 'latest_version' } });
    expect(res.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    expect(verifySigned(app.public_key, res)).toBe(true);
    expect(verifySigned(app.public_key, { headers: res.headers, body: res.body.replace('2.4.1', '9.9.9') })).toBe(false);
    // Without a nonce there is none in the answer; the request it answers is still named.
    expect((await readVariable('latest_version', { app_id: app.app_id })).json()).toEqual({
      name: 'latest_version',
      value: '2.4.1',
      request: { route: 'GET /api/variables/:name', name: 'latest_version' },
    });
  });

  it('refuses a private variable without proof: 403 with the reason, still signed', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await addVariable(s, app.id, { name: 'api_key', value: 'sk_live_123' });
    const res = await readVariable('api_key', { app_id: app.app_id });
    const err = expectError(res, 403, 'FORBIDDEN');
    expect(err.message).toContain('UNAUTHORIZED');
    expect(res.body).not.toContain('sk_live_123');
    expect(verifySigned(app.public_key, res)).toBe(true);
    // A license key without a HWID does not validate on an HWID-locked app.
    const [lic] = await s.generate((await s.call('GET', `/api/applications/${app.id}/plans`)).json()[0].id);
    const noHwid = expectError(await readVariable('api_key', { app_id: app.app_id, license_key: lic!.license_key }), 403, 'FORBIDDEN');
    expect(noHwid.message).toContain('HWID_REQUIRED');
    const unknownKey = expectError(await readVariable('api_key', { app_id: app.app_id, license_key: 'NOPE-NOPE', hwid: 'PC-1' }), 403, 'FORBIDDEN');
    expect(unknownKey.message).toContain('NOT_FOUND');
  });

  it('does not tell a caller without proof which private names exist', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    await addVariable(s, app.id, { name: 'api_key', value: 'sk_live_123' });
    const existing = await readVariable('api_key', { app_id: app.app_id });
    const unknown = await readVariable('no_such_name', { app_id: app.app_id });
    expect(unknown.statusCode).toBe(existing.statusCode);
    expect(unknown.json()).toEqual(existing.json());
    const badProof = { license_key: 'NOPE-NOPE', hwid: 'PC-1' };
    const existingBad = await readVariable('api_key', { app_id: app.app_id, ...badProof });
    const unknownBad = await readVariable('no_such_name', { app_id: app.app_id, ...badProof });
    expect([unknownBad.statusCode, unknownBad.json()]).toEqual([existingBad.statusCode, existingBad.json()]);
  });

  it('hands out a private variable for a license and HWID that validate (activating it as /validate would)', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    await addVariable(s, app.id, { name: 'api_key', value: 'sk_live_123' });
    const [lic] = await s.generate(plan.id);
    const res = await readVariable('api_key', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: 'api_key', value: 'sk_live_123' });
    expect(verifySigned(app.public_key, res)).toBe(true);
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json()).toMatchObject({ status: 'active', hwid: 'PC-1' });
    // The key is now bound to PC-1: another machine is refused.
    const other = expectError(await readVariable('api_key', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-2' }), 403, 'FORBIDDEN');
    expect(other.message).toContain('HWID_MISMATCH');
    expect((await readVariable('api_key', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' })).statusCode).toBe(200);
  });

  it('refuses a banned license, and a license of another application', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const { app: otherApp, plan: otherPlan } = await s.setup();
    await addVariable(s, app.id, { name: 'api_key', value: 'sk_live_123' });
    const [lic] = await s.generate(plan.id);
    expect((await readVariable('api_key', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' })).statusCode).toBe(200);
    expect((await s.call('POST', `/api/licenses/${lic!.id}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);
    const banned = expectError(await readVariable('api_key', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' }), 403, 'FORBIDDEN');
    expect(banned.message).toContain('BANNED');
    const [foreign] = await s.generate(otherPlan.id);
    const wrongApp = expectError(await readVariable('api_key', { app_id: app.app_id, license_key: foreign!.license_key, hwid: 'PC-1' }), 403, 'FORBIDDEN');
    expect(wrongApp.message).toContain('NOT_FOUND');
    expect(otherApp.id).not.toBe(app.id);
  });

  it('hands out a private variable for a valid user token, and refuses forged, foreign or orphaned ones', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const { app: otherApp } = await s.setup();
    await addVariable(s, app.id, { name: 'api_key', value: 'sk_live_123' });
    const [lic] = await s.generate(plan.id);
    const { userId, token } = await userToken(app, lic!.id);
    const ok = await readVariable('api_key', { app_id: app.app_id }, { authorization: `Bearer ${token}` });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ name: 'api_key', value: 'sk_live_123' });
    expect(verifySigned(app.public_key, ok)).toBe(true);

    const tampered = token.slice(0, -3) + (token.endsWith('AAA') ? 'BBB' : 'AAA');
    expect(expectError(await readVariable('api_key', { app_id: app.app_id }, { authorization: `Bearer ${tampered}` }), 403, 'FORBIDDEN').message).toContain('UNAUTHORIZED');
    // A token of another application is worth nothing here (and vice versa).
    const foreign = await userToken(otherApp, null, 'foreigner');
    expectError(await readVariable('api_key', { app_id: app.app_id }, { authorization: `Bearer ${foreign.token}` }), 403, 'FORBIDDEN');
    // An expired token.
    const expired = await userTokenFor(h, app.app_id, userId, Date.now() - 2 * 3600_000);
    expectError(await readVariable('api_key', { app_id: app.app_id }, { authorization: `Bearer ${expired}` }), 403, 'FORBIDDEN');
    // A seller's session token is not a user token.
    expectError(await readVariable('api_key', { app_id: app.app_id }, { authorization: `Bearer ${s.token}` }), 403, 'FORBIDDEN');
    // The user is gone: the token no longer opens anything.
    await h.deps.db.query('delete from app_users where id = $1', [userId]);
    const gone = expectError(await readVariable('api_key', { app_id: app.app_id }, { authorization: `Bearer ${token}` }), 403, 'FORBIDDEN');
    expect(gone.message).toContain('no longer exists');
  });

  it('answers 404 for an unknown app_id, and for an unknown variable once the caller proves a right; never serves another application’s variable', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const { app: otherApp } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const proof = { license_key: lic!.license_key, hwid: 'PC-1' };
    await addVariable(s, otherApp.id, { name: 'only_there', value: 'x', public: true });
    expectError(await readVariable('only_there', { app_id: '00000000-0000-4000-8000-000000000000' }), 404, 'NOT_FOUND');
    expectError(await readVariable('only_there', { app_id: app.app_id, ...proof }), 404, 'NOT_FOUND');
    expectError(await readVariable('nothing_here', { app_id: app.app_id, ...proof }), 404, 'NOT_FOUND');
    expect((await readVariable('only_there', { app_id: otherApp.app_id })).json().value).toBe('x');
    expectError(await readVariable('only_there', { app_id: 'not-a-uuid' }), 400, 'VALIDATION_ERROR');
    expectError(await h.app.inject({ method: 'GET', url: '/api/variables/only_there' }), 400, 'VALIDATION_ERROR');
    expectError(await readVariable('bad name!', { app_id: app.app_id }), 400, 'VALIDATION_ERROR');
  });

  it('shows a change to a variable at once', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const v = await addVariable(s, app.id, { name: 'flag', value: 'off', public: true });
    expect((await readVariable('flag', { app_id: app.app_id })).json().value).toBe('off');
    await s.call('PUT', `/api/variables/${v.id}`, { value: 'on' });
    expect((await readVariable('flag', { app_id: app.app_id })).json().value).toBe('on');
    await s.call('PUT', `/api/variables/${v.id}`, { public: false });
    expectError(await readVariable('flag', { app_id: app.app_id }), 403, 'FORBIDDEN');
    await s.call('DELETE', `/api/variables/${v.id}`);
    expectError(await readVariable('flag', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' }), 404, 'NOT_FOUND');
  });
});
