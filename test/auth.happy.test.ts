import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

let n = 0;
const fresh = () => {
  const username = `dev${++n}_${Date.now() % 1_000_000}`;
  return { email: `${username}@Example.test`, username, password: 'a long enough password' };
};
const register = (body: Record<string, unknown>) => h.app.inject({ method: 'POST', url: '/api/auth/register', payload: body });
const login = (body: Record<string, unknown>) => h.app.inject({ method: 'POST', url: '/api/auth/login', payload: body });
const me = (token: string) => h.call(token, { method: 'GET', url: '/api/auth/me' });

describe('registering a developer', () => {
  it('creates the account and answers 201 with the developer and a working session token', async () => {
    const input = fresh();
    const res = await register(input);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.developer).toEqual({ id: expect.any(Number), email: input.email, username: input.username, created_at: expect.any(String) });
    expect(new Date(body.developer.created_at).toISOString()).toBe(body.developer.created_at);
    expect(body.token).toMatch(/^kc_sess_[A-Za-z0-9_-]{40,}$/);
    expect(JSON.stringify(body)).not.toContain(input.password);

    const profile = await me(body.token);
    expect(profile.statusCode).toBe(200);
    expect(profile.json().developer).toEqual(body.developer);
  });
});

describe('logging in', () => {
  it('accepts the email, the username, and either in any letter case', async () => {
    const input = fresh();
    const { developer } = (await register(input)).json();
    for (const name of [input.email, input.username, input.email.toUpperCase(), input.username.toUpperCase()]) {
      const res = await login({ login: name, password: input.password });
      expect(res.statusCode, name).toBe(200);
      const body = res.json();
      expect(body).toEqual({ token: expect.stringMatching(/^kc_sess_/), expires_at: expect.any(String), developer });
      expect(new Date(body.expires_at).getTime()).toBeGreaterThan(Date.now());
      expect((await me(body.token)).json().developer.id).toBe(developer.id);
    }
  });

  it('gives a new token per login; each works on its own', async () => {
    const input = fresh();
    await register(input);
    const a = (await login({ login: input.username, password: input.password })).json().token;
    const b = (await login({ login: input.username, password: input.password })).json().token;
    expect(a).not.toBe(b);
    expect((await me(a)).statusCode).toBe(200);
    expect((await me(b)).statusCode).toBe(200);
  });
});

describe('the caller profile', () => {
  it('shows the developer and their limits, counting owned applications', async () => {
    const s = await h.seller();
    const before = (await me(s.token)).json();
    expect(before).toEqual({
      developer: { id: s.developerId, email: `${s.username}@example.test`, username: s.username, created_at: expect.any(String) },
      limits: expect.objectContaining({ max_applications: 50, applications_used: 0, max_licenses_per_application: 1_000_000, max_count_per_generate: expect.any(Number) }),
    });
    await s.setup();
    expect((await me(s.token)).json().limits.applications_used).toBe(1);
  });
});

describe('API keys', () => {
  it('creates a key shown once with the kc_live_ prefix, which then works as a bearer token', async () => {
    const s = await h.seller();
    const res = await s.call('POST', '/api/auth/api-keys', { name: 'CI deploys' });
    expect(res.statusCode).toBe(201);
    const created = res.json();
    expect(created).toMatchObject({ id: expect.any(Number), name: 'CI deploys', key: expect.stringMatching(/^kc_live_[A-Za-z0-9_-]{40,}$/) });

    const asKey = await me(created.key);
    expect(asKey.statusCode).toBe(200);
    expect(asKey.json().developer.id).toBe(s.developerId);

    // The key acts with the developer's full seller rights.
    const app = await h.call(created.key, { method: 'POST', url: '/api/applications', payload: { name: 'Made with a key' } });
    expect(app.statusCode).toBe(201);
    expect((await s.call('GET', '/api/applications')).json().map((a: { name: string }) => a.name)).toEqual(['Made with a key']);
  });

  it('lists keys without the key itself, in creation order', async () => {
    const s = await h.seller();
    const one = (await s.call('POST', '/api/auth/api-keys', { name: 'one' })).json();
    const two = (await s.call('POST', '/api/auth/api-keys', { name: 'two' })).json();
    const res = await s.call('GET', '/api/auth/api-keys');
    expect(res.statusCode).toBe(200);
    const list = res.json() as Record<string, unknown>[];
    expect(list.map((k) => k.id)).toEqual([one.id, two.id]);
    expect(list.map((k) => k.name)).toEqual(['one', 'two']);
    for (const k of list) {
      expect(k).not.toHaveProperty('key');
      expect(JSON.stringify(k)).not.toContain(one.key);
      expect(JSON.stringify(k)).not.toContain(two.key);
    }
    // The session the seller logged in with is not an API key.
    expect(list).toHaveLength(2);
  });

  it('revokes a key: it stops working at once, other credentials keep working', async () => {
    const s = await h.seller();
    const keep = (await s.call('POST', '/api/auth/api-keys', { name: 'keep' })).json();
    const drop = (await s.call('POST', '/api/auth/api-keys', { name: 'drop' })).json();
    expect((await me(drop.key)).statusCode).toBe(200);

    const res = await s.call('DELETE', `/api/auth/api-keys/${drop.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'API key deleted' });

    const after = await me(drop.key);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ success: false, code: 'UNAUTHORIZED' });
    expect((await me(keep.key)).statusCode).toBe(200);
    expect((await me(s.token)).statusCode).toBe(200);
    expect((await s.call('GET', '/api/auth/api-keys')).json().map((k: { id: number }) => k.id)).toEqual([keep.id]);
  });
});

describe('passing the token as a query parameter', () => {
  it('accepts ?Authorization=Bearer%20<token> as PoPaAP examples do', async () => {
    const s = await h.seller();
    const res = await h.app.inject({ method: 'GET', url: `/api/auth/me?Authorization=Bearer%20${encodeURIComponent(s.token)}` });
    expect(res.statusCode).toBe(200);
    expect(res.json().developer.id).toBe(s.developerId);

    const { app, plan } = await s.setup();
    await s.generate(plan.id, 2);
    const list = await h.app.inject({ method: 'GET', url: `/api/applications/${app.id}/licenses?per_page=1&Authorization=Bearer%20${s.token}` });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toHaveLength(1);
    expect(list.headers['x-total-count']).toBe('2');
  });
});
