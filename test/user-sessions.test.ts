import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userTokenKey } from '../src/core/users/user-token.js';
import { expectError } from './support/expect-error.js';
import { client, startHarness, type AppView, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';

/**
 * End-user sessions: a user token lives an hour, but a seller's password reset or a user's
 * deletion ends every token of that user at once. A login elsewhere ends none.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ countRoundTrips: true, env: { USAGE_FLUSH_MS: '60000' } });
});
afterAll(() => h?.close());

const PASSWORD = 'hunter2hunter2';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An application with a private variable, a file and one user signed up through the user-auth API. */
async function appWithUser(s: Seller) {
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0 } });
  const [lic] = await s.generate(plan.id);
  expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'api_key', value: 'sk_private', public: false })).statusCode).toBe(201);
  const body = multipart([{ name: 'file', filename: 'tool.bin', data: Buffer.from('the tool') }]);
  const file = await h.app.inject({ method: 'POST', url: `/api/applications/${app.id}/files`, payload: body.payload, headers: { ...body.headers, ...bearer(s.token) } });
  expect(file.statusCode, file.body).toBe(201);
  const created = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: lic!.license_key, username: 'player', password: PASSWORD, hwid: 'PC-1' });
  expect(created.statusCode, created.body).toBe(201);
  return { app, fileId: (file.json() as { id: number }).id, userId: created.json().user.id as number, token: created.json().token as string };
}

function doors(app: AppView, fileId: number) {
  return {
    me: (token: string) => h.app.inject({ method: 'GET', url: '/api/user-auth/me', headers: bearer(token) }),
    variable: (token: string) => h.app.inject({ method: 'GET', url: '/api/variables/api_key', query: { app_id: app.app_id }, headers: bearer(token) }),
    download: (token: string) => h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query: { app_id: app.app_id }, headers: bearer(token) }),
    login: (password: string) => client(h, '/api/user-auth/login', { app_id: app.app_id, username: 'player', password, hwid: 'PC-1' }),
  };
}

type Doors = ReturnType<typeof doors>;

async function expectOpens(d: Doors, token: string) {
  expect((await d.me(token)).json()).toMatchObject({ user: { username: 'player' } });
  expect((await d.variable(token)).json()).toMatchObject({ name: 'api_key', value: 'sk_private' });
  expect((await d.download(token)).body).toBe('the tool');
}

/** Refused everywhere, with `reason` in the message: 401 on /me, 403 naming UNAUTHORIZED on the private resources. */
async function expectRefused(d: Doors, token: string, reason: string) {
  expect(expectError(await d.me(token), 401, 'UNAUTHORIZED').message).toContain(reason);
  for (const res of [await d.variable(token), await d.download(token)]) {
    const body = expectError(res, 403, 'FORBIDDEN');
    expect(body.message).toContain('UNAUTHORIZED');
    expect(body.message).toContain(reason);
    expect(res.body).not.toContain('sk_private');
    expect(res.body).not.toContain('the tool');
  }
}

/** A token signed with the application's key, with exactly these claims (no `pwd` unless given). */
function handMade(app: AppView, claims: Record<string, unknown>) {
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = createHmac('sha256', userTokenKey(h.deps.box, app.app_id)).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${signature}`;
}

describe('end-user sessions', () => {
  it("a seller's password reset ends the user's tokens on /me, private variables and file downloads; a login with the new password works", async () => {
    const s = await h.seller();
    const { app, fileId, userId, token } = await appWithUser(s);
    const d = doors(app, fileId);
    const other = await d.login(PASSWORD);
    expect(other.statusCode).toBe(200);
    await expectOpens(d, token);
    await expectOpens(d, other.json().token);

    const reset = await s.call('POST', `/api/users/${userId}/reset-password`);
    expect(reset.statusCode, reset.body).toBe(200);
    // Both earlier sessions end, as an expired token would.
    await expectRefused(d, token, 'invalid or expired');
    await expectRefused(d, other.json().token, 'invalid or expired');

    expect((await d.login(PASSWORD)).statusCode).toBe(401);
    const fresh = await d.login(reset.json().password);
    expect(fresh.statusCode, fresh.body).toBe(200);
    await expectOpens(d, fresh.json().token);
    // The token says nothing about the password: its `pwd` is keyed, neither the hash nor the password.
    const claims = JSON.parse(Buffer.from((fresh.json().token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.pwd).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const [row] = await h.deps.db.query<{ password_hash: string }>('select password_hash from app_users where id = $1', [userId]);
    expect(JSON.stringify(claims)).not.toContain(row!.password_hash.split('$').pop()!);
  });

  it('a login elsewhere does not end the other sessions: only a password change does', async () => {
    const s = await h.seller();
    const { app, fileId, token } = await appWithUser(s);
    const d = doors(app, fileId);
    const tokens = [token];
    for (let i = 0; i < 2; i++) {
      const login = await d.login(PASSWORD);
      expect(login.statusCode).toBe(200);
      tokens.push(login.json().token);
    }
    for (const t of tokens) await expectOpens(d, t);
  });

  it("a user's deletion ends the user's tokens everywhere", async () => {
    const s = await h.seller();
    const { app, fileId, userId, token } = await appWithUser(s);
    const d = doors(app, fileId);
    await expectOpens(d, token);
    expect((await s.call('DELETE', `/api/users/${userId}`)).statusCode).toBe(200);
    await expectRefused(d, token, 'no longer exists');
  });

  it('refuses a token without the password fingerprint, or with a forged one, as an expired token', async () => {
    const s = await h.seller();
    const { app, fileId, userId, token } = await appWithUser(s);
    const d = doors(app, fileId);
    const { iat, exp, lic, pwd } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number; lic: number; pwd: string };
    const base = { sub: String(userId), app: app.app_id, lic, iat, exp };
    // As signed before tokens carried `pwd`; a control with it opens everything.
    await expectOpens(d, handMade(app, { ...base, pwd }));
    await expectRefused(d, handMade(app, base), 'invalid or expired');
    for (const bad of ['', 'AAAAAAAAAAAAAAAAAAAAAA', pwd.slice(0, -2), `${pwd}AA`, 42, null]) await expectRefused(d, handMade(app, { ...base, pwd: bad }), 'invalid or expired');
  });

  it('checking the fingerprint adds no round trip: /me costs 1, a private variable 2', async () => {
    const s = await h.seller();
    const { app, fileId, token } = await appWithUser(s);
    const d = doors(app, fileId);
    // Warm: statements described once.
    for (let i = 0; i < 2; i++) await expectOpens(d, token);
    await h.deps.usage.flush();
    expect((await h.roundTrips!.measure(async () => expect((await d.me(token)).statusCode).toBe(200))).roundTrips).toBe(1);
    expect((await h.roundTrips!.measure(async () => expect((await d.variable(token)).statusCode).toBe(200))).roundTrips).toBe(2);
  });
});
