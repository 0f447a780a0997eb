import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { verifySigned } from './support/client-signature.js';
import { client, startHarness, type Harness } from './support/harness.js';

const clock = fixedClock(new Date('2026-01-01T00:00:00Z'));
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock, env: { APP_CACHE_TTL_MS: '0' } });
});
afterAll(() => h?.close());

const validate = (body: Record<string, unknown>) => client(h, '/api/licenses/validate', body);

describe('validating a license', () => {
  it('activates on first use, binds the HWID and starts the clock', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const res = await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ success: true, code: 'VALID', message: 'License activated successfully' });
    expect(body.license.status).toBe('active');
    expect(body.license.activated_at).toBe('2026-01-01T00:00:00.000Z');
    expect(body.license.expires_at).toBe('2026-01-31T00:00:00.000Z');

    const again = await validate({ app_id: app.app_id, license_key: lic!.license_key.toLowerCase(), hwid: 'PC-1' });
    expect(again.json()).toMatchObject({ success: true, code: 'VALID', message: 'License is valid' });

    const seller = await s.call('GET', `/api/licenses/${lic!.id}`);
    expect(seller.json()).toMatchObject({ status: 'active', hwid: 'PC-1', hwids: ['PC-1'], activation_date: '2026-01-01T00:00:00.000Z' });
  });

  it('answers each decided outcome with its code', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [a, b, c] = await s.generate(plan.id, 3);
    expect((await validate({ app_id: app.app_id, license_key: 'NOPE' })).json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
    expect((await validate({ app_id: app.app_id, license_key: a!.license_key })).json()).toMatchObject({ success: false, code: 'HWID_REQUIRED' });
    await validate({ app_id: app.app_id, license_key: a!.license_key, hwid: 'PC-1' });
    expect((await validate({ app_id: app.app_id, license_key: a!.license_key, hwid: 'PC-2' })).json()).toMatchObject({ success: false, code: 'HWID_MISMATCH' });

    await s.call('POST', `/api/licenses/${b!.id}/ban`, { reason: 'chargeback' });
    expect((await validate({ app_id: app.app_id, license_key: b!.license_key, hwid: 'PC-1' })).json()).toMatchObject({ success: false, code: 'BANNED' });

    await validate({ app_id: app.app_id, license_key: c!.license_key, hwid: 'PC-3' });
    clock.advance(31 * 86_400_000);
    try {
      expect((await validate({ app_id: app.app_id, license_key: c!.license_key, hwid: 'PC-3' })).json()).toMatchObject({ success: false, code: 'EXPIRED' });
    } finally {
      clock.advance(-31 * 86_400_000);
    }
    // Validation stored the expiry: the seller sees it even with the clock back.
    expect((await s.call('GET', `/api/licenses/${c!.id}`)).json().status).toBe('expired');

    await s.call('PUT', `/api/applications/${app.id}`, { settings: { paused: true } });
    expect((await validate({ app_id: app.app_id, license_key: a!.license_key, hwid: 'PC-1' })).json()).toMatchObject({ success: false, code: 'APP_PAUSED' });
  });

  it('404s an unknown app_id and 400s a malformed one', async () => {
    const unknown = await validate({ app_id: '00000000-0000-4000-8000-000000000000', license_key: 'X' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
    const bad = await validate({ app_id: 'not-a-uuid', license_key: 'X' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_ERROR');
  });

  it('does not bind a HWID when the lock is off', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { hwid_lock: false } });
    const [lic] = await s.generate(plan.id);
    expect((await validate({ app_id: app.app_id, license_key: lic!.license_key })).json()).toMatchObject({ code: 'VALID', message: 'License activated successfully' });
    expect((await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'ANY' })).json()).toMatchObject({ code: 'VALID' });
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json().hwids).toEqual([]);
  });

  it('lets a plan override max_hwids', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ plan: { max_hwids: 2 } });
    const [lic] = await s.generate(plan.id);
    for (const hwid of ['A', 'B']) expect((await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid })).json().code).toBe('VALID');
    expect((await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'C' })).json().code).toBe('HWID_MISMATCH');
  });

  it('binds exactly max_hwids of 20 concurrent first activations with different HWIDs', async () => {
    for (const maxHwids of [1, 3]) {
      const s = await h.seller();
      const { app, plan } = await s.setup({ settings: { max_hwids: maxHwids } });
      const [lic] = await s.generate(plan.id);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: `HW-${i}` })));
      expect(results.every((r) => r.statusCode === 200)).toBe(true);
      const codes = results.map((r) => r.json().code);
      expect(codes.filter((c) => c === 'VALID')).toHaveLength(maxHwids);
      expect(codes.filter((c) => c === 'HWID_MISMATCH')).toHaveLength(20 - maxHwids);
      const stored = (await s.call('GET', `/api/licenses/${lic!.id}`)).json();
      expect(stored.hwids).toHaveLength(maxHwids);
    }
  });

  it('signs every response with the application key and echoes the nonce', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const res = await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC', nonce: 'abcdef123456' });
    expect(res.json().nonce).toBe('abcdef123456');
    expect(verifySigned(app.public_key, res)).toBe(true);
    const tampered = { ...res, body: res.body.replace('"VALID"', '"BANNED"') };
    expect(verifySigned(app.public_key, tampered)).toBe(false);
    const failure = await validate({ app_id: app.app_id, license_key: 'NOPE', nonce: 'zzzzzzzz' });
    expect(verifySigned(app.public_key, failure)).toBe(true);
    const invalid = await validate({ app_id: app.app_id, license_key: '', nonce: 'zzzzzzzz' });
    expect(invalid.statusCode).toBe(400);
  });

  it('reports expiration without activating', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const before = await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key });
    expect(before.json()).toMatchObject({ success: true, status: 'inactive', activated_at: null, expires_at: null, expired: false, remaining_seconds: null });
    await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    const after = (await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key })).json();
    expect(after).toMatchObject({ success: true, status: 'active', expired: false, remaining_seconds: 30 * 86_400 });
    const missing = await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: 'NOPE' });
    expect(missing.statusCode).toBe(200);
    expect(missing.json()).toMatchObject({ success: false, code: 'NOT_FOUND' });
    // Reset, the key is inactive again (API.md: remaining_seconds null for inactive); its end stays.
    await s.call('POST', `/api/licenses/${lic!.id}/reset-hwid`);
    const reset = (await client(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key })).json();
    expect(reset).toMatchObject({ success: true, status: 'inactive', expires_at: after.expires_at, expired: false, remaining_seconds: null });
  });

  it('writes last_used, ip and counters in a later batch, not per request', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    clock.advance(60_000);
    await validate({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' });
    await validate({ app_id: app.app_id, license_key: 'NOPE', hwid: 'PC' });
    expect(h.deps.usage.pending).toBeGreaterThan(0);
    await h.deps.usage.flush();
    const stored = (await s.call('GET', `/api/licenses/${lic!.id}`)).json();
    expect(stored.last_used).toBe(clock.now().toISOString());
    expect(stored.ip_address).toBe('127.0.0.1');
    const [counter] = await h.deps.db.query<{ validations: number; failures: number }>('select validations, failures from daily_counters where application_id = $1', [app.id]);
    expect(counter).toMatchObject({ validations: 3, failures: 1 });
  });

  it('keeps last_used to the minute: from the same address within a minute no license write, another address or a minute later is written', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0 } });
    const [lic] = await s.generate(plan.id);
    const body = { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC' };
    const from = (remoteAddress: string) => h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: body, remoteAddress });
    const stored = async () => (await s.call('GET', `/api/licenses/${lic!.id}`)).json() as { last_used: string; ip_address: string };
    const start = clock.now().getTime();
    expect((await from('10.0.0.1')).json().code).toBe('VALID'); // the first activation writes last_used itself
    await h.deps.usage.flush();
    clock.advance(59_000);
    expect((await from('10.0.0.1')).json().code).toBe('VALID');
    await h.deps.usage.flush();
    expect(await stored()).toMatchObject({ last_used: new Date(start).toISOString(), ip_address: '10.0.0.1' });
    // The validation log has it all the same.
    const [logged] = await h.deps.db.query<{ n: number }>('select sum(count)::int as n from validation_logs where license_id = $1', [lic!.id]);
    expect(logged!.n).toBe(2);

    expect((await from('10.0.0.2')).json().code).toBe('VALID');
    await h.deps.usage.flush();
    expect(await stored()).toMatchObject({ last_used: new Date(start + 59_000).toISOString(), ip_address: '10.0.0.2' });
    clock.advance(60_000);
    expect((await from('10.0.0.2')).json().code).toBe('VALID');
    await h.deps.usage.flush();
    expect(await stored()).toMatchObject({ last_used: new Date(start + 119_000).toISOString(), ip_address: '10.0.0.2' });
  });
});
