import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as passwords from '../src/core/passwords.js';
import { expectError } from './support/expect-error.js';
import { client, startHarness, type AppView, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { insertUserWithToken } from './support/user-tokens.js';
import { untilLockWaiters } from './support/wait.js';

// The Argon2 work is counted, not timed: every caller in Keycord goes through these functions.
vi.mock('../src/core/passwords.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/core/passwords.js')>();
  return { ...real, hashPassword: vi.fn(real.hashPassword), verifyPassword: vi.fn(real.verifyPassword), burnPasswordCheck: vi.fn(real.burnPasswordCheck) };
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const PASSWORD = 'hunter2hunter2';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const hashes = () => vi.mocked(passwords.hashPassword).mock.calls.length;
const passwordChecks = () => vi.mocked(passwords.verifyPassword).mock.calls.length + vi.mocked(passwords.burnPasswordCheck).mock.calls.length;

/** An application with a private variable and a file, and `count` fresh (inactive) licenses. */
async function appWithResources(s: Seller, count = 1) {
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0 } });
  const keys = await s.generate(plan.id, count);
  expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'api_key', value: 'sk_private', public: false })).statusCode).toBe(201);
  const body = multipart([{ name: 'file', filename: 'tool.bin', data: Buffer.from('the tool') }]);
  const file = await h.app.inject({ method: 'POST', url: `/api/applications/${app.id}/files`, payload: body.payload, headers: { ...body.headers, ...bearer(s.token) } });
  expect(file.statusCode, file.body).toBe(201);
  return { app, plan, keys, fileId: (file.json() as { id: number }).id };
}

function doors(app: AppView, fileId: number) {
  return {
    variable: (token: string) => h.app.inject({ method: 'GET', url: '/api/variables/api_key', query: { app_id: app.app_id }, headers: bearer(token) }),
    download: (token: string) => h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query: { app_id: app.app_id }, headers: bearer(token) }),
    validate: (licenseKey: string) => client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: licenseKey, hwid: 'PC-1' }),
  };
}

type Doors = ReturnType<typeof doors>;

async function expectOpens(d: Doors, token: string) {
  expect((await d.variable(token)).json()).toMatchObject({ name: 'api_key', value: 'sk_private' });
  expect((await d.download(token)).body).toBe('the tool');
}

/** Refused on both private resources with 403 naming `code`, in the words /validate then uses for the same license. */
async function expectRefused(d: Doors, token: string, code: string, licenseKey: string) {
  const answers = [await d.variable(token), await d.download(token)];
  const validated = (await d.validate(licenseKey)).json() as { success: boolean; code: string; message: string };
  expect(validated).toMatchObject({ success: false, code });
  for (const res of answers) {
    expect(expectError(res, 403, 'FORBIDDEN').message).toBe(`${validated.message} (${code})`);
    expect(res.body).not.toContain('sk_private');
    expect(res.body).not.toContain('the tool');
  }
}

describe('a user token opens private variables and files only while its license stands', () => {
  it('is refused once the license is banned (BANNED), and opens again once it is unbanned', async () => {
    const s = await h.seller();
    const { app, keys, fileId } = await appWithResources(s);
    const d = doors(app, fileId);
    const { token } = await insertUserWithToken(h, app, keys[0]!.id, 'banned1');
    await expectOpens(d, token);
    expect((await s.call('POST', `/api/licenses/${keys[0]!.id}/ban`, {})).statusCode).toBe(200);
    await expectRefused(d, token, 'BANNED', keys[0]!.license_key);
    expect((await s.call('POST', `/api/licenses/${keys[0]!.id}/unban`, {})).statusCode).toBe(200);
    await expectOpens(d, token);
  });

  it('is refused once the license has passed its end (EXPIRED), marked by the sweep or not', async () => {
    const s = await h.seller();
    const { app, keys, fileId } = await appWithResources(s, 2);
    const d = doors(app, fileId);
    const [unmarked, marked] = [keys[0]!, keys[1]!];
    const a = await insertUserWithToken(h, app, unmarked.id, 'expired1');
    const b = await insertUserWithToken(h, app, marked.id, 'expired2');
    await expectOpens(d, a.token);
    await expectOpens(d, b.token);
    await h.deps.db.query(`update licenses set status = 'active', activated_at = now() - interval '2 days', expires_at = now() - interval '1 minute' where id = $1`, [unmarked.id]);
    await h.deps.db.query(`update licenses set status = 'expired', activated_at = now() - interval '2 days', expires_at = now() - interval '1 minute' where id = $1`, [marked.id]);
    await expectRefused(d, a.token, 'EXPIRED', unmarked.license_key);
    await expectRefused(d, b.token, 'EXPIRED', marked.license_key);
  });

  it("is refused once the user's license is deleted (NOT_FOUND)", async () => {
    const s = await h.seller();
    const { app, keys, fileId } = await appWithResources(s);
    const d = doors(app, fileId);
    const { token } = await insertUserWithToken(h, app, keys[0]!.id, 'deleted1');
    await expectOpens(d, token);
    expect((await s.call('DELETE', `/api/licenses/${keys[0]!.id}`)).statusCode).toBe(200);
    await expectRefused(d, token, 'NOT_FOUND', keys[0]!.license_key);
  });

  it('is refused while the application is paused (APP_PAUSED), and opens again once it resumes', async () => {
    const s = await h.seller();
    const { app, keys, fileId } = await appWithResources(s);
    const d = doors(app, fileId);
    const { token } = await insertUserWithToken(h, app, keys[0]!.id, 'paused1');
    await expectOpens(d, token);
    expect((await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } })).statusCode).toBe(200);
    await expectRefused(d, token, 'APP_PAUSED', keys[0]!.license_key);
    expect((await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: false } })).statusCode).toBe(200);
    await expectOpens(d, token);
  });

  it('still opens for a license back to inactive after a HWID reset (the token is the proof, not a HWID), and binds nothing', async () => {
    const s = await h.seller();
    const { app, keys, fileId } = await appWithResources(s);
    const d = doors(app, fileId);
    const { token } = await insertUserWithToken(h, app, keys[0]!.id, 'inactive1');
    await expectOpens(d, token);
    expect((await s.call('GET', `/api/licenses/${keys[0]!.id}`)).json()).toMatchObject({ status: 'inactive', hwids: [], activation_date: null });
  });
});

/** Runs `hold` in a transaction that stays open until the returned `release` is called. */
async function holdOpen(hold: (execute: (statement: string) => Promise<unknown>) => Promise<void>) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let ready!: () => void;
  const held = new Promise<void>((r) => (ready = r));
  const done = h.deps.db.orm.transaction(async (tx) => {
    await hold((statement) => tx.execute(sql.raw(statement)));
    ready();
    await released;
  });
  await Promise.race([held, done]);
  return async () => {
    release();
    await done;
  };
}

const licenseRow = async (id: number) =>
  (
    await h.deps.db.query<{ status: string; hwids: string[]; activated_at: Date | null; expires_at: Date | null }>('select status, hwids, activated_at, expires_at from licenses where id = $1', [id])
  )[0]!;
const activatedEvents = async (licenseId: number) =>
  (await h.deps.db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'license.activated' and (payload->'license'->>'id')::int = $1`, [licenseId]))[0]!.n;

async function expectUntouched(licenseId: number) {
  expect(await licenseRow(licenseId)).toMatchObject({ status: 'inactive', hwids: [], activated_at: null, expires_at: null });
  expect(await activatedEvents(licenseId)).toBe(0);
}

describe('signing up and moving to a new license leave the license as it was when they fail', () => {
  it('a sign-up with a taken username is 409 USERNAME_TAKEN, and the license stays inactive with no HWID', async () => {
    const s = await h.seller();
    const { app, keys } = await appWithResources(s, 2);
    const first = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: keys[0]!.license_key, username: 'taken', password: PASSWORD, hwid: 'PC-1' });
    expect(first.statusCode, first.body).toBe(201);
    const before = hashes();
    const again = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: keys[1]!.license_key, username: 'TAKEN', password: PASSWORD, hwid: 'PC-2' });
    expectError(again, 409, 'USERNAME_TAKEN');
    await expectUntouched(keys[1]!.id);
    // Refused before any password work.
    expect(hashes()).toBe(before);
    // The key is still good for a sign-up under another name.
    expect((await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: keys[1]!.license_key, username: 'other', password: PASSWORD, hwid: 'PC-2' })).statusCode).toBe(201);
    expect(await licenseRow(keys[1]!.id)).toMatchObject({ status: 'active', hwids: ['PC-2'] });
    expect(await activatedEvents(keys[1]!.id)).toBe(1);
  });

  it('a username taken by a concurrent sign-up (past the first check) undoes the activation with the insert', async () => {
    const s = await h.seller();
    const { app, keys } = await appWithResources(s, 2);
    // A sign-up of "racer" not yet committed: the two below pass the username check, then wait on its unique index entry.
    const release = await holdOpen(async (execute) => {
      await execute(`insert into app_users (application_id, username, password_hash) values (${app.id}, 'racer', 'x')`);
    });
    const signUps = keys.map((k, i) => client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: k.license_key, username: 'Racer', password: PASSWORD, hwid: `PC-${i}` }));
    try {
      await untilLockWaiters(h.deps.db, 2);
    } finally {
      await release();
    }
    for (const res of await Promise.all(signUps)) expectError(res, 409, 'USERNAME_TAKEN');
    for (const k of keys) await expectUntouched(k.id);
  });

  it('a move that loses to a concurrent move of the same user leaves its new license inactive', async () => {
    const s = await h.seller();
    const { app, keys } = await appWithResources(s, 3);
    const [old, next1, next2] = [keys[0]!, keys[1]!, keys[2]!];
    const created = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: old.license_key, username: 'mover', password: PASSWORD, hwid: 'PC-1' });
    expect(created.statusCode, created.body).toBe(201);
    const userId = created.json().user.id as number;
    // The user's row is held: both moves get past their checks and wait to move it.
    const release = await holdOpen(async (execute) => {
      await execute(`select id from app_users where id = ${userId} for update`);
    });
    const moves = [next1, next2].map((k) => client(h, '/api/user-auth/update-license', { app_id: app.app_id, old_license_key: old.license_key, new_license_key: k.license_key, hwid: 'PC-1' }));
    try {
      await untilLockWaiters(h.deps.db, 2);
    } finally {
      await release();
    }
    const answers = await Promise.all(moves);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const [won, lost] = answers[0]!.statusCode === 200 ? [next1, next2] : [next2, next1];
    expectError(answers.find((r) => r.statusCode === 409)!, 409, 'LICENSE_IN_USE');
    expect(await licenseRow(won.id)).toMatchObject({ status: 'active', hwids: ['PC-1'] });
    await expectUntouched(lost.id);
    const [user] = await h.deps.db.query<{ license_id: number }>('select license_id from app_users where id = $1', [userId]);
    expect(user!.license_id).toBe(won.id);
  });

  it('a sign-up refused for its license (unknown key, paused application) costs no password hash', async () => {
    const s = await h.seller();
    const { app, keys } = await appWithResources(s);
    const before = hashes();
    expect((await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: 'NO-SUCH-KEY', username: 'nokey', password: PASSWORD, hwid: 'PC-1' })).json()).toMatchObject({
      code: 'NOT_FOUND',
    });
    await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } });
    expectError(await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: keys[0]!.license_key, username: 'paused', password: PASSWORD, hwid: 'PC-1' }), 403, 'APP_PAUSED');
    expect(hashes()).toBe(before);
    await expectUntouched(keys[0]!.id);
  });
});

describe('password work only for callers who may have it done', () => {
  async function appWithUser(s: Seller) {
    const { app, keys } = await appWithResources(s);
    const res = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: keys[0]!.license_key, username: 'player', password: PASSWORD, hwid: 'PC-1' });
    expect(res.statusCode, res.body).toBe(201);
    return { app, userId: res.json().user.id as number };
  }

  it("a stranger's or a viewer's password reset is refused (404 / 403) without hashing; a manager's hashes once", async () => {
    const owner = await h.seller();
    const { app, userId } = await appWithUser(owner);
    const stranger = await h.seller();
    const viewer = await h.seller('viewer');
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: viewer.username, role: 'viewer' })).statusCode).toBeLessThan(300);

    const before = hashes();
    expectError(await stranger.call('POST', `/api/users/${userId}/reset-password`), 404, 'NOT_FOUND');
    expectError(await viewer.call('POST', `/api/users/${userId}/reset-password`), 403, 'FORBIDDEN');
    expectError(await owner.call('POST', `/api/users/${2 ** 30}/reset-password`), 404, 'NOT_FOUND');
    expect(hashes()).toBe(before);

    const reset = await owner.call('POST', `/api/users/${userId}/reset-password`);
    expect(reset.statusCode, reset.body).toBe(200);
    expect(hashes()).toBe(before + 1);
    expect((await client(h, '/api/user-auth/login', { app_id: app.app_id, username: 'player', password: reset.json().password, hwid: 'PC-1' })).statusCode).toBe(200);
  });

  it('a login to a paused application is refused (APP_PAUSED) before any password check', async () => {
    const s = await h.seller();
    const { app } = await appWithUser(s);
    await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } });
    const before = passwordChecks();
    for (const [username, password] of [
      ['player', PASSWORD],
      ['player', 'wrong-password'],
      ['nobody', PASSWORD],
    ]) {
      expectError(await client(h, '/api/user-auth/login', { app_id: app.app_id, username, password, hwid: 'PC-1' }), 403, 'APP_PAUSED');
    }
    expect(passwordChecks()).toBe(before);
    await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: false } });
    expect((await client(h, '/api/user-auth/login', { app_id: app.app_id, username: 'player', password: PASSWORD, hwid: 'PC-1' })).statusCode).toBe(200);
    expect(passwordChecks()).toBe(before + 1);
  });
});

describe('on the embedded database (PGlite) too', () => {
  let e: Harness;
  beforeAll(async () => {
    e = await startHarness({ database: 'pglite', env: { APP_CACHE_TTL_MS: '0' } });
  });
  afterAll(() => e?.close());

  it('signs up and moves with the license checked inside the transaction, and a failed sign-up activates nothing', async () => {
    const s = await e.seller();
    const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0 } });
    const [first, second, next] = await s.generate(plan.id, 3);
    const created = await client(e, '/api/user-auth/create', { app_id: app.app_id, license_key: first!.license_key, username: 'embedded', password: PASSWORD, hwid: 'PC-1' });
    expect(created.statusCode, created.body).toBe(201);
    expect((await s.call('GET', `/api/licenses/${first!.id}`)).json()).toMatchObject({ status: 'active', hwids: ['PC-1'] });
    expectError(await client(e, '/api/user-auth/create', { app_id: app.app_id, license_key: second!.license_key, username: 'Embedded', password: PASSWORD, hwid: 'PC-2' }), 409, 'USERNAME_TAKEN');
    expect((await s.call('GET', `/api/licenses/${second!.id}`)).json()).toMatchObject({ status: 'inactive', hwids: [], activation_date: null });
    const moved = await client(e, '/api/user-auth/update-license', { app_id: app.app_id, old_license_key: first!.license_key, new_license_key: next!.license_key, hwid: 'PC-1' });
    expect(moved.statusCode, moved.body).toBe(200);
    expect((await s.call('GET', `/api/licenses/${next!.id}`)).json()).toMatchObject({ status: 'active', hwids: ['PC-1'] });
    expect(moved.json().user).toMatchObject({ license_id: next!.id });
  });
});
