import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expirySweep } from '../src/core/licenses/expiry-sweep.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';
import { userTokenFor } from './support/user-tokens.js';

let h: Harness;
let s: Seller;
let app: { id: number; app_id: string };
let plan: { id: number };
beforeAll(async () => {
  h = await startHarness();
  s = await h.seller();
  ({ app, plan } = await s.setup());
});
afterAll(() => h?.close());

const post = (path: string, body: Record<string, unknown>) => client(h, `/api/user-auth/${path}`, { app_id: app.app_id, ...body });
const me = (token: string) => h.app.inject({ method: 'GET', url: '/api/user-auth/me', headers: { authorization: `Bearer ${token}` } });

describe('end users of an application', () => {
  it('register with a license, log in with username, password and HWID, and read their profile', async () => {
    const [lic] = await s.generate(plan.id);
    const created = await post('create', { license_key: lic!.license_key, username: 'player1', password: 'hunter2hunter2', hwid: 'PC-A' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ message: 'User created successfully', user: { username: 'player1', hwid: 'PC-A' } });
    expect(created.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    const [row] = await h.deps.db.query<{ password_hash: string }>('select password_hash from app_users where username = $1', ['player1']);
    expect(row!.password_hash).toMatch(/^\$argon2id\$/);

    const login = await post('login', { username: 'PLAYER1', password: 'hunter2hunter2', hwid: 'PC-A' });
    expect(login.statusCode).toBe(200);
    expect(login.json().message).toBe('Connection successful');
    const token = login.json().token as string;
    expect(token.split('.')).toHaveLength(3);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });

    const profile = await me(token);
    expect(profile.statusCode).toBe(200);
    expect(profile.json()).toMatchObject({ user: { username: 'player1', hwid: 'PC-A' }, license: { license_key: lic!.license_key, status: 'active', plan: { id: plan.id } } });

    const users = await s.call('GET', `/api/licenses/${lic!.id}/users`);
    expect(users.json()).toEqual([expect.objectContaining({ username: 'player1', license_id: lic!.id })]);
    const stats = await s.call('GET', `/api/statistics?application_id=${app.id}`);
    expect(stats.json().users.total).toBeGreaterThanOrEqual(1);
  });

  it('applies the license rules: wrong HWID, banned license, a license already taken', async () => {
    const [lic, other] = await s.generate(plan.id, 2);
    await post('create', { license_key: lic!.license_key, username: 'player2', password: 'hunter2hunter2', hwid: 'PC-B' });
    const wrongHwid = await post('login', { username: 'player2', password: 'hunter2hunter2', hwid: 'PC-X' });
    expect(wrongHwid.statusCode).toBe(403);
    expect(wrongHwid.json()).toMatchObject({ success: false, code: 'HWID_MISMATCH' });
    const taken = await post('create', { license_key: lic!.license_key, username: 'player3', password: 'hunter2hunter2', hwid: 'PC-B' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().code).toBe('LICENSE_IN_USE');
    await s.call('POST', `/api/licenses/${other!.id}/ban`, {});
    const banned = await post('create', { license_key: other!.license_key, username: 'player4', password: 'hunter2hunter2', hwid: 'PC-C' });
    expect(banned.statusCode).toBe(403);
    expect(banned.json().code).toBe('BANNED');
    const unknown = await post('create', { license_key: 'NOPE', username: 'player5', password: 'hunter2hunter2', hwid: 'PC-C' });
    expect(unknown.json().code).toBe('NOT_FOUND');
    const dupe = await s.generate(plan.id);
    const sameName = await post('create', { license_key: dupe[0]!.license_key, username: 'Player2', password: 'hunter2hunter2', hwid: 'PC-D' });
    expect(sameName.statusCode).toBe(409);
  });

  it('does not reveal whether a user exists on login', async () => {
    const wrongPassword = await post('login', { username: 'player1', password: 'not the password', hwid: 'PC-A' });
    const noSuchUser = await post('login', { username: 'ghost', password: 'not the password', hwid: 'PC-A' });
    expect(wrongPassword.statusCode).toBe(401);
    expect(noSuchUser.statusCode).toBe(401);
    expect(wrongPassword.json()).toEqual(noSuchUser.json());
  });

  it('validates a user license into a token, and moves a user to a new license', async () => {
    const [first, second] = await s.generate(plan.id, 2);
    await post('create', { license_key: first!.license_key, username: 'mover', password: 'hunter2hunter2', hwid: 'PC-M' });
    const v = await post('validate-license', { license_key: first!.license_key, hwid: 'PC-M' });
    expect(v.statusCode).toBe(200);
    expect((await me(v.json().token)).json().user.username).toBe('mover');
    const moved = await post('update-license', { old_license_key: first!.license_key, new_license_key: second!.license_key, hwid: 'PC-M' });
    expect(moved.statusCode).toBe(200);
    expect(moved.json().user.license_id).toBe(second!.id);
    expect((await s.call('GET', `/api/licenses/${second!.id}`)).json()).toMatchObject({ status: 'active', hwids: ['PC-M'] });
    const again = await post('update-license', { old_license_key: second!.license_key, new_license_key: second!.license_key, hwid: 'PC-M' });
    expect(again.statusCode).toBe(400);
    const [third] = await s.generate(plan.id);
    const wrongDevice = await post('update-license', { old_license_key: second!.license_key, new_license_key: third!.license_key, hwid: 'PC-OTHER' });
    expect(wrongDevice.json().code).toBe('HWID_MISMATCH');
    expect((await s.call('GET', `/api/licenses/${third!.id}`)).json().status).toBe('inactive');
  });

  it('ends the old license when a user moves, so it cannot be handed on (README: user authentication)', async () => {
    const [oldLicense, newLicense] = await s.generate(plan.id, 2);
    await post('create', { license_key: oldLicense!.license_key, username: 'upgrader', password: 'hunter2hunter2', hwid: 'PC-U' });
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: oldLicense!.license_key, hwid: 'PC-U' })).json().success).toBe(true);
    const moved = await post('update-license', { old_license_key: oldLicense!.license_key, new_license_key: newLicense!.license_key, hwid: 'PC-U' });
    expect(moved.statusCode).toBe(200);

    const again = await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: oldLicense!.license_key, hwid: 'PC-U' });
    expect(again.json()).toMatchObject({ success: false, code: 'EXPIRED' });
    expect((await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: oldLicense!.license_key })).json()).toMatchObject({ status: 'expired', expired: true });
    expect((await s.call('GET', `/api/licenses/${oldLicense!.id}`)).json().status).toBe('expired');
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: newLicense!.license_key, hwid: 'PC-U' })).json().success).toBe(true);

    // The sweep makes it so in the row and tells the seller's webhooks once.
    await expirySweep(h.deps, { noticeDays: [] });
    const [row] = await h.deps.db.query<{ status: string }>('select status from licenses where id = $1', [oldLicense!.id]);
    expect(row!.status).toBe('expired');
    const events = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.expired' and (payload->'license'->>'id')::int = $1`, [oldLicense!.id]);
    expect(events[0]!.n).toBe(1);
    const audit = await s.call('GET', `/api/applications/${app.id}/logs?type=audit&per_page=50`);
    expect(JSON.stringify(audit.json())).toContain('from_license_ended_at');
  });

  it('rejects forged, expired and foreign tokens', async () => {
    const [lic] = await s.generate(plan.id);
    const created = (await post('create', { license_key: lic!.license_key, username: 'tokens', password: 'hunter2hunter2', hwid: 'PC-T' })).json();
    const [head, body] = (created.token as string).split('.');
    const forged = `${head}.${body}.${Buffer.from('x'.repeat(32)).toString('base64url')}`;
    expect((await me(forged)).statusCode).toBe(401);
    const expired = await userTokenFor(h, app.app_id, created.user.id, Date.now() - 2 * 3600_000);
    expect((await me(expired)).statusCode).toBe(401);
    const other = await h.seller('other');
    const { app: otherApp } = await other.setup();
    const foreign = await userTokenFor(h, otherApp.app_id, created.user.id);
    expect((await me(foreign)).statusCode).toBe(401);
    expect((await me('garbage')).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/api/user-auth/me' })).statusCode).toBe(401);
  });

  it('rejects malformed input with the error shape', async () => {
    const bad = await post('create', { license_key: 'X', username: 'a', password: 'short', hwid: '' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_ERROR');
    expect(bad.json().details.length).toBeGreaterThanOrEqual(3);
    expect((await client(h, '/api/user-auth/login', { app_id: '00000000-0000-4000-8000-000000000000', username: 'x', password: 'y', hwid: 'z' })).statusCode).toBe(404);
  });
});
