import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationCache } from '../src/core/applications/application-cache.js';
import { compactKey, FixedWindows } from '../src/http/fixed-windows.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';

/*
 * The audit crashed a 512 MB server in 26 s with validate requests carrying unique 1 MB app_ids:
 * each became a rate-limit key before the body was validated. Whatever clients send, the
 * in-memory state they reach must stay bounded.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const validate = (appId: string, ip: string, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: '/api/licenses/validate', remoteAddress: ip, headers, payload: { app_id: appId, license_key: 'ANY-KEY' } });

describe('client requests with junk app_ids', () => {
  it('are refused 400 up to the body limit, and no cache or counter remembers them', async () => {
    const before = h.deps.apps.sizes;
    for (let i = 0; i < 8; i++) {
      const junk = `${i}-${'x'.repeat(1_000_000)}`;
      const body = expectError(await validate(junk, '10.6.0.1'), 400, 'VALIDATION_ERROR');
      expect(body.details?.map((d) => d.path)).toContain('body.app_id');
    }
    // Encrypted, the envelope's app_id is all there is to go on.
    expectError(await validate('y'.repeat(500_000), '10.6.0.1', { 'x-body-encryption': 'aes-256-gcm' }), 400, 'DECRYPTION_FAILED');
    expect(h.deps.apps.sizes).toEqual(before);
  });

  it('share one window per client IP with unknown applications, so unique ids gain nothing', async () => {
    // The limit for unknown applications is 300 a minute per IP.
    for (let i = 0; i < 300; i++) {
      const res = i % 2 === 0 ? await validate(`junk-${i}`, '10.6.0.2') : await validate(randomUUID(), '10.6.0.2');
      expect(res.statusCode).toBe(i % 2 === 0 ? 400 : 404);
    }
    expectError(await validate(randomUUID(), '10.6.0.2'), 429, 'RATE_LIMITED');
    expectError(await validate('one more junk id', '10.6.0.2'), 429, 'RATE_LIMITED');
    // Another address has its own window.
    expectError(await validate(randomUUID(), '10.6.0.3'), 404, 'NOT_FOUND');
  });

  it('count an IPv6 client by its /64, so picking new addresses from it gains nothing', async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { rate_limit_per_minute: 2 } });
    expect((await validate(app.app_id, '2001:db8:7:1::1')).statusCode).toBe(200);
    expect((await validate(app.app_id, '2001:db8:7:1:ffff:ffff:ffff:fffe')).statusCode).toBe(200);
    expectError(await validate(app.app_id, '2001:db8:7:1::abcd'), 429, 'RATE_LIMITED');
    // The next /64 is another subscriber; an IPv4-mapped address counts as its IPv4 one.
    expect((await validate(app.app_id, '2001:db8:7:2::1')).statusCode).toBe(200);
    expect((await validate(app.app_id, '10.6.0.9')).statusCode).toBe(200);
    expect((await validate(app.app_id, '::ffff:10.6.0.9')).statusCode).toBe(200);
    expectError(await validate(app.app_id, '10.6.0.9'), 429, 'RATE_LIMITED');
  });

  it('count a known application in its own window, however its app_id is spelt', async () => {
    const s = await h.seller();
    const { app } = await s.setup({ settings: { rate_limit_per_minute: 2 } });
    expect((await validate(app.app_id, '10.6.0.4')).statusCode).toBe(200);
    expect((await validate(app.app_id.toUpperCase(), '10.6.0.4')).statusCode).toBe(200);
    expectError(await validate(app.app_id, '10.6.0.4'), 429, 'RATE_LIMITED');
  });
});

describe('the application cache', () => {
  it('keeps a flood of unknown ids within its bound, without pushing out the real applications', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const cache = new ApplicationCache(h.deps.db, h.deps.box, 60_000, 2, 5);
    expect((await cache.get(app.app_id))?.id).toBe(app.id);

    // All at once, so the loads overlap as under a real flood.
    const answers = await Promise.all(Array.from({ length: 50 }, () => cache.get(randomUUID())));
    expect(answers.every((a) => a === null)).toBe(true);
    expect(await cache.get('z'.repeat(1_000_000))).toBeNull();
    expect(cache.sizes).toEqual({ applications: 1, unknown: 5, loading: 0 });
    expect(cache.peek(app.app_id)?.id).toBe(app.id);
  });
});

describe('rate-limit windows', () => {
  it('never hold more keys than their cap, evicting the oldest window', () => {
    const windows = new FixedWindows(100);
    for (let i = 0; i < 1000; i++) windows.hit(`key-${i}`, 60_000, 0);
    expect(windows.size).toBe(100);
    // The newest keys survived and kept counting.
    expect(windows.hit('key-999', 60_000, 1).count).toBe(2);
    expect(windows.hit('key-0', 60_000, 1).count).toBe(1);
  });

  it('drop expired windows as new ones open', () => {
    const windows = new FixedWindows(100);
    for (let i = 0; i < 50; i++) windows.hit(`old-${i}`, 1000, 0);
    windows.hit('new', 1000, 5000);
    expect(windows.size).toBe(1);
  });

  it('store a long key (a forged X-Forwarded-For) by its digest, still counting it', () => {
    const long = `7|${'1.2.3.4, '.repeat(2000)}`;
    expect(compactKey(long).length).toBeLessThanOrEqual(44);
    expect(compactKey('12|2001:db8::1')).toBe('12|2001:db8::1');
    const windows = new FixedWindows(10);
    windows.hit(long, 60_000, 0);
    expect(windows.hit(long, 60_000, 1).count).toBe(2);
  });
});
