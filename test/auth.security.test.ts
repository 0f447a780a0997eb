import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

const clock = fixedClock(new Date());
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock });
});
afterAll(() => h?.close());

const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => h.deps.db.query<T>(text, params);
const me = (token: string) => h.call(token, { method: 'GET', url: '/api/auth/me' });

describe('passwords at rest', () => {
  it('are stored as argon2id hashes, never in the clear', async () => {
    const password = 'my very own password 123';
    const username = `pw_${Date.now() % 1_000_000}`;
    const res = await h.app.inject({ method: 'POST', url: '/api/auth/register', payload: { email: `${username}@example.test`, username, password } });
    expect(res.statusCode).toBe(201);
    const [row] = await sql<{ password_hash: string; whole: string }>('select password_hash, row_to_json(d)::text as whole from developers d where id = $1', [res.json().developer.id]);
    expect(row!.password_hash).toMatch(/^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/);
    expect(row!.whole).not.toContain(password);
    expect(res.body).not.toContain('argon2');

    const audit = await sql<{ text: string }>("select coalesce(string_agg(row_to_json(a)::text, '\n'), '') as text from audit_logs a");
    expect(audit[0]!.text).not.toContain(password);
  });

  it('never show up in the profile or the login answer', async () => {
    const s = await h.seller();
    const profile = await me(s.token);
    expect(profile.body).not.toMatch(/password|argon2/i);
    const login = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: s.username, password: 'correct horse battery' } });
    expect(login.statusCode).toBe(200);
    expect(login.body).not.toMatch(/password|argon2/i);
  });
});

describe('tokens at rest', () => {
  it('keeps API keys and session tokens only as SHA-256 digests', async () => {
    const s = await h.seller();
    const key = (await s.call('POST', '/api/auth/api-keys', { name: 'secret-check' })).json().key as string;
    const rows = await sql<{ kind: string; token_hash: string; whole: string }>('select kind, token_hash, row_to_json(t)::text as whole from developer_tokens t where developer_id = $1 order by id', [
      s.developerId,
    ]);
    expect(rows.map((r) => r.kind)).toEqual(['session', 'api_key']);
    const digest = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(rows[0]!.token_hash).toBe(digest(s.token));
    expect(rows[1]!.token_hash).toBe(digest(key));
    for (const r of rows) {
      expect(r.whole).not.toContain(key);
      expect(r.whole).not.toContain(s.token);
      // Not even the random part of either token is stored beyond the short listing hint.
      expect(r.whole).not.toContain(key.slice(8, 30));
      expect(r.whole).not.toContain(s.token.slice(8, 30));
    }
  });
});

describe('session expiry', () => {
  it('refuses a session token once it has expired, while an API key keeps working', async () => {
    const s = await h.seller();
    const key = (await s.call('POST', '/api/auth/api-keys', { name: 'long-lived' })).json().key as string;
    clock.advance(7 * 24 * 3600_000 + 1000);
    try {
      expectError(await me(s.token), 401, 'UNAUTHORIZED');
      expect((await me(key)).statusCode).toBe(200);
    } finally {
      clock.advance(-(7 * 24 * 3600_000 + 1000));
    }
    expect((await me(s.token)).statusCode).toBe(200);
  });
});

describe('API keys of another developer', () => {
  it('are invisible: revoking one is a 404 and leaves it working', async () => {
    const alice = await h.seller('alice');
    const mallory = await h.seller('mallory');
    const key = (await alice.call('POST', '/api/auth/api-keys', { name: 'alice-key' })).json();

    expect((await mallory.call('GET', '/api/auth/api-keys')).json()).toEqual([]);
    const res = await mallory.call('DELETE', `/api/auth/api-keys/${key.id}`);
    const notMine = expectError(res, 404, 'NOT_FOUND');
    // Same answer as a key that does not exist at all.
    expect((await mallory.call('DELETE', '/api/auth/api-keys/2147483647')).json()).toEqual(notMine);

    expect((await me(key.key)).json().developer.id).toBe(alice.developerId);
    expect((await alice.call('GET', '/api/auth/api-keys')).json()).toHaveLength(1);
  });

  it('cannot revoke a login session through the API-key route', async () => {
    const s = await h.seller();
    const [session] = await sql<{ id: number }>('select id from developer_tokens where developer_id = $1 and kind = $2', [s.developerId, 'session']);
    expectError(await s.call('DELETE', `/api/auth/api-keys/${session!.id}`), 404, 'NOT_FOUND');
    expect((await me(s.token)).statusCode).toBe(200);
  });

  it("act as their own developer only: a key sees its developer's data and nobody else's", async () => {
    const alice = await h.seller('alice');
    const bob = await h.seller('bob');
    await alice.setup();
    const bobKey = (await bob.call('POST', '/api/auth/api-keys', { name: 'bob' })).json().key as string;
    const apps = await h.call(bobKey, { method: 'GET', url: '/api/applications' });
    expect(apps.json()).toEqual([]);
  });
});

describe('the bearer token format', () => {
  it('accepts the header case-insensitively on the scheme but not a token with a changed character', async () => {
    const s = await h.seller();
    expect((await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `bearer ${s.token}` } })).statusCode).toBe(200);
    const last = s.token.at(-1) === 'A' ? 'B' : 'A';
    expectError(await me(s.token.slice(0, -1) + last), 401, 'UNAUTHORIZED');
    expectError(await me(s.token + 'x'), 401, 'UNAUTHORIZED');
  });
});
