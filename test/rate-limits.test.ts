import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySigned } from './support/client-signature.js';
import { startHarness, type Harness } from './support/harness.js';
import { freePort, PrivateRedis } from './support/redis.js';
import { waitFor } from './support/wait.js';

let h: Harness;
let redis: PrivateRedis;
beforeAll(async () => {
  redis = new PrivateRedis(await freePort());
  await redis.start();
  h = await startHarness({ jobs: 'producer', env: { REDIS_URL: redis.url, AUTH_RATE_LIMIT_PER_MINUTE: '3', SELLER_RATE_LIMIT_PER_MINUTE: '5' } });
  // Until the connection is up, counts are local by design; the tests below count in Redis.
  await waitFor(async () => ((await h.jobs!.redisHealth()) === 'ok' ? true : undefined), 10_000, 'Redis connection');
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

/** A new developer, registered from `ip`; their session token. */
async function register(email: string, username: string, ip: string): Promise<string> {
  const res = await h.app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: ip, payload: { email, username, password: 'password 12345' } });
  return res.json().token as string;
}

const expectLimited = (res: { statusCode: number; headers: Record<string, unknown>; json: () => any }) => {
  expect(res.statusCode).toBe(429);
  expect(res.json()).toMatchObject({ success: false, code: 'RATE_LIMITED' });
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(res.headers['ratelimit-limit']).toBeDefined();
  expect(res.headers['ratelimit-remaining']).toBe('0');
};

describe('rate limits', () => {
  it('limit login attempts per IP (brute force)', async () => {
    const attempt = (ip: string) => h.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { login: 'nobody', password: 'wrong password' } });
    for (let i = 0; i < 3; i++) expect((await attempt('10.0.0.1')).statusCode).toBe(401);
    expectLimited(await attempt('10.0.0.1'));
    expect((await attempt('10.0.0.2')).statusCode).toBe(401);
    const userLogin = (ip: string) =>
      h.app.inject({ method: 'POST', url: '/api/user-auth/login', remoteAddress: ip, payload: { app_id: '00000000-0000-4000-8000-000000000000', username: 'x', password: 'y', hwid: 'z' } });
    for (let i = 0; i < 3; i++) await userLogin('10.0.0.3');
    expectLimited(await userLogin('10.0.0.3'));
  });

  it("sign an application's user-login 429 and echo its nonce, as every other answer of a client route", async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const userLogin = (nonce: string) =>
      h.app.inject({ method: 'POST', url: '/api/user-auth/login', remoteAddress: '10.0.9.1', payload: { app_id: app.app_id, username: 'nobody', password: 'wrong password', hwid: 'HW-1', nonce } });
    for (let i = 0; i < 3; i++) {
      const refused = await userLogin(`login-nonce-000${i}`);
      expect(refused.statusCode, refused.body).toBe(401);
      expect(verifySigned(app, refused)).toBe(true);
    }
    const limited = await userLogin('login-nonce-0009');
    expectLimited(limited);
    expect(verifySigned(app, limited)).toBe(true);
    expect(limited.json()).toMatchObject({ nonce: 'login-nonce-0009' });
  });

  it('limit seller routes per token, in Redis, shared across tokens of nobody else', async () => {
    const token = await register('rl@example.test', 'ratelimited', '10.1.0.1');
    const token2 = await register('rl2@example.test', 'ratelimited2', '10.1.0.2');
    for (let i = 0; i < 5; i++) expect((await h.call(token, { method: 'GET', url: '/api/applications' })).statusCode).toBe(200);
    expectLimited(await h.call(token, { method: 'GET', url: '/api/applications' }));
    expect((await h.call(token2, { method: 'GET', url: '/api/applications' })).statusCode).toBe(200);
    const keys = await redisKeys();
    expect(keys.some((k) => k.includes('ratelimit'))).toBe(true);
  });

  it('limit requests with unknown tokens per IP, each of which cost a database lookup, but not known tokens from there', async () => {
    const known = await register('rl5@example.test', 'ratelimited5', '10.2.0.9');
    // Known to this process (cached) before the address runs out of lookups.
    expect((await h.call(known, { method: 'GET', url: '/api/auth/me', remoteAddress: '10.2.0.1' })).statusCode).toBe(200);
    const guess = (i: number, ip = '10.2.0.1') => h.call(`kc_live_guess${i}`, { method: 'GET', url: '/api/applications', remoteAddress: ip });
    for (let i = 0; i < 3; i++) expect((await guess(i)).statusCode).toBe(401);
    expectLimited(await guess(3));
    // A token this process knows still works from that address; another address has its own count.
    expect((await h.call(known, { method: 'GET', url: '/api/auth/me', remoteAddress: '10.2.0.1' })).statusCode).toBe(200);
    expect((await guess(4, '10.2.0.2')).statusCode).toBe(401);
  });

  it("limit client routes per application and IP by the application's setting (0 = none)", async () => {
    const token = await register('rl3@example.test', 'clientlimits', '10.2.0.1');
    const mk = async (settings: object) => (await h.call(token, { method: 'POST', url: '/api/applications', payload: { name: 'A', settings } })).json();
    const limited = await mk({ rate_limit_per_minute: 3 });
    const open = await mk({ rate_limit_per_minute: 0 });
    const validate = (appId: string, ip = '10.9.9.9') => h.app.inject({ method: 'POST', url: '/api/licenses/validate', remoteAddress: ip, payload: { app_id: appId, license_key: 'NOPE' } });
    for (let i = 0; i < 3; i++) expect((await validate(limited.app_id)).statusCode).toBe(200);
    const over = await validate(limited.app_id);
    expectLimited(over);
    expect((await validate(limited.app_id, '10.9.9.10')).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await validate(open.app_id)).statusCode).toBe(200);
  });

  it('fall back to local counting when Redis is down, without failing or blocking', async () => {
    const token = await register('rl4@example.test', 'fallback', '10.3.0.1');
    await redis.stop();
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect((await h.call(token, { method: 'GET', url: '/api/applications' })).statusCode).toBe(200);
    expectLimited(await h.call(token, { method: 'GET', url: '/api/applications' }));
    expect(Date.now() - started).toBeLessThan(5000);
    await redis.start();
    await waitFor(async () => ((await h.jobs!.redisHealth()) === 'ok' ? true : undefined), 10_000, 'Redis to come back');
  });
});

async function redisKeys(): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const r = new Redis(redis.url);
  try {
    return await r.keys('*');
  } finally {
    r.disconnect();
  }
}
