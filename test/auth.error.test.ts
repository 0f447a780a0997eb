import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as passwords from '../src/core/passwords.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

// The real hashes, counted: a sign-up refused for a taken name must not pay for one.
vi.mock('../src/core/passwords.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/core/passwords.js')>();
  return { ...real, hashPassword: vi.fn(real.hashPassword) };
});
const hashes = () => vi.mocked(passwords.hashPassword).mock.calls.length;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

let n = 0;
const fresh = () => {
  const username = `err${++n}_${Date.now() % 1_000_000}`;
  return { email: `${username}@example.test`, username, password: 'a long enough password' };
};
const register = (body: unknown) => h.app.inject({ method: 'POST', url: '/api/auth/register', payload: body as object });
const countDevelopers = async () => Number((await h.deps.db.query<{ n: string }>('select count(*) as n from developers'))[0]!.n);

describe('registering with taken names', () => {
  it('refuses a duplicate email (in any letter case) with 409', async () => {
    const first = fresh();
    expect((await register(first)).statusCode).toBe(201);
    const before = await countDevelopers();
    expectError(await register({ ...fresh(), email: first.email }), 409, 'CONFLICT');
    expectError(await register({ ...fresh(), email: first.email.toUpperCase() }), 409, 'CONFLICT');
    expect(await countDevelopers()).toBe(before);
  });

  it('refuses a duplicate username (in any letter case) with 409', async () => {
    const first = fresh();
    expect((await register(first)).statusCode).toBe(201);
    expectError(await register({ ...fresh(), username: first.username }), 409, 'CONFLICT');
    expectError(await register({ ...fresh(), username: first.username.toUpperCase() }), 409, 'CONFLICT');
  });

  it('refuses a taken email or username without hashing the password', async () => {
    const first = fresh();
    expect((await register(first)).statusCode).toBe(201);
    const before = hashes();
    const answers = await Promise.all([
      register({ ...fresh(), email: first.email.toUpperCase() }),
      register({ ...fresh(), username: first.username }),
      register({ ...first, password: 'another long password' }),
      ...Array.from({ length: 20 }, () => register({ ...fresh(), email: first.email })),
    ]);
    for (const answer of answers) expectError(answer, 409, 'CONFLICT');
    expect(hashes()).toBe(before);
  });

  it('two sign-ups for the same free email at once: one 201, one 409 (the unique index decides)', async () => {
    const email = fresh().email;
    // Both pass the look for a taken name before either inserts: each waits in its hash for the other.
    const real = await vi.importActual<typeof import('../src/core/passwords.js')>('../src/core/passwords.js');
    let arrived = 0;
    let bothHashing!: () => void;
    const met = new Promise<void>((resolve) => (bothHashing = resolve));
    const meet = async (password: string) => {
      if (++arrived === 2) bothHashing();
      await met;
      return real.hashPassword(password);
    };
    vi.mocked(passwords.hashPassword).mockImplementationOnce(meet).mockImplementationOnce(meet);
    const before = await countDevelopers();
    const answers = await Promise.all([register({ ...fresh(), email }), register({ ...fresh(), email: email.toUpperCase() })]);
    expect(arrived).toBe(2);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 409]);
    expectError(answers.find((a) => a.statusCode === 409)!, 409, 'CONFLICT');
    expect(await countDevelopers()).toBe(before + 1);
  });
});

describe('registering with bad input', () => {
  it('rejects a password under 10 characters, naming the field', async () => {
    const body = expectError(await register({ ...fresh(), password: '123456789' }), 400, 'VALIDATION_ERROR');
    expect(body.details).toEqual([{ path: 'body.password', message: expect.any(String) }]);
  });

  it('rejects an invalid email, naming the field', async () => {
    const body = expectError(await register({ ...fresh(), email: 'not-an-email' }), 400, 'VALIDATION_ERROR');
    expect(body.details?.map((d) => d.path)).toEqual(['body.email']);
  });

  it('rejects a username with spaces or too short', async () => {
    for (const username of ['a b c d', 'ab', 'x'.repeat(33)]) {
      const body = expectError(await register({ ...fresh(), username }), 400, 'VALIDATION_ERROR');
      expect(body.details?.map((d) => d.path)).toEqual(['body.username']);
    }
  });

  it('lists every missing field', async () => {
    const body = expectError(await register({}), 400, 'VALIDATION_ERROR');
    expect(body.details?.map((d) => d.path).sort()).toEqual(['body.email', 'body.password', 'body.username']);
  });

  it('creates nothing when the input is refused', async () => {
    const before = await countDevelopers();
    await register({ ...fresh(), password: 'short' });
    await register({ ...fresh(), email: 'nope' });
    expect(await countDevelopers()).toBe(before);
  });
});

describe('logging in with bad credentials', () => {
  it('answers a wrong password and an unknown user with the very same 401', async () => {
    const input = fresh();
    await register(input);
    const wrong = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: input.username, password: 'not the password' } });
    const unknown = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: 'nobody_at_all', password: 'not the password' } });
    const wrongBody = expectError(wrong, 401, 'UNAUTHORIZED');
    expectError(unknown, 401, 'UNAUTHORIZED');
    expect(unknown.json()).toEqual(wrongBody);
    expect(wrongBody.message).toBe('Invalid login or password');
  });

  it('rejects an empty login or password as bad input', async () => {
    expectError(await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: '', password: 'x' } }), 400, 'VALIDATION_ERROR');
    expectError(await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { login: 'someone' } }), 400, 'VALIDATION_ERROR');
  });
});

describe('calling the seller API without a valid token', () => {
  const routes: [string, string][] = [
    ['GET', '/api/auth/me'],
    ['GET', '/api/auth/api-keys'],
    ['POST', '/api/auth/api-keys'],
    ['DELETE', '/api/auth/api-keys/1'],
    ['GET', '/api/applications'],
    ['POST', '/api/applications'],
    ['POST', '/api/plans/'],
    ['POST', '/api/licenses/generate'],
    ['GET', '/api/licenses/mine'],
    ['GET', '/api/licenses/1'],
  ];

  it('answers 401 with the error shape when the token is missing', async () => {
    for (const [method, url] of routes) {
      const res = await h.app.inject({ method: method as 'GET', url, ...(method === 'POST' ? { payload: {} } : {}) });
      expectError(res, 401, 'UNAUTHORIZED');
    }
  });

  it('answers 401 for garbage, a foreign scheme, or a well-prefixed token nobody was given', async () => {
    for (const authorization of ['Bearer garbage', 'Bearer', 'Basic dXNlcjpwYXNz', 'kc_live_abc', 'Bearer kc_live_' + 'A'.repeat(43), 'Bearer kc_sess_' + 'A'.repeat(43), 'Bearer a b']) {
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization } });
      const body = expectError(res, 401, 'UNAUTHORIZED');
      expect(body.message).toBe('Missing or invalid credentials');
    }
  });

  it('answers 401 for a bad token in the query parameter too', async () => {
    expectError(await h.app.inject({ method: 'GET', url: '/api/auth/me?Authorization=Bearer%20kc_sess_nope' }), 401, 'UNAUTHORIZED');
    expectError(await h.app.inject({ method: 'GET', url: '/api/auth/me?Authorization=' }), 401, 'UNAUTHORIZED');
  });

  it('checks the token before the body: a bad body without a token is still a 401', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/applications', payload: { name: 42 } });
    expectError(res, 401, 'UNAUTHORIZED');
  });
});

describe('API key input', () => {
  it('requires a name of 1–100 characters', async () => {
    const s = await h.seller();
    for (const name of ['', '   ', 'x'.repeat(101)]) {
      const body = expectError(await s.call('POST', '/api/auth/api-keys', { name }), 400, 'VALIDATION_ERROR');
      expect(body.details?.[0]?.path).toBe('body.name');
    }
    expect((await s.call('GET', '/api/auth/api-keys')).json()).toEqual([]);
  });

  it('stops at 100 keys per developer, even when requests arrive at once', async () => {
    const s = await h.seller();
    const results = await Promise.all(Array.from({ length: 104 }, (_, i) => s.call('POST', '/api/auth/api-keys', { name: `key ${i}` })));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(100);
    for (const r of results.filter((x) => x.statusCode !== 201)) expectError(r, 409, 'LIMIT_REACHED');
    const listed = await s.call('GET', '/api/auth/api-keys?per_page=500');
    expect(listed.headers['x-total-count']).toBe('100');
    expect(listed.json()).toHaveLength(100);
  });

  it('answers 404 for revoking a key that does not exist, and 400 for a malformed id', async () => {
    const s = await h.seller();
    expectError(await s.call('DELETE', '/api/auth/api-keys/999999'), 404, 'NOT_FOUND');
    expectError(await s.call('DELETE', '/api/auth/api-keys/abc'), 400, 'VALIDATION_ERROR');
  });

  it('answers 404 for revoking the same key twice', async () => {
    const s = await h.seller();
    const key = (await s.call('POST', '/api/auth/api-keys', { name: 'k' })).json();
    expect((await s.call('DELETE', `/api/auth/api-keys/${key.id}`)).statusCode).toBe(200);
    expectError(await s.call('DELETE', `/api/auth/api-keys/${key.id}`), 404, 'NOT_FOUND');
  });
});
