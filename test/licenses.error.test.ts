import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const licenseCount = async (s: Seller, appId: number) => Number((await s.call('GET', `/api/applications/${appId}/licenses?per_page=1`)).headers['x-total-count']);

describe('generating with a bad format', () => {
  it('refuses a mask with under 60 bits of randomness with 400 MASK_TOO_WEAK', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    for (const custom_format of ['####-####', 'XXXX-XXXX', '@@@@@@@@@@@@', 'ABCD-EFGH-1234']) {
      const err = expectError(await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, format: 'custom', custom_format }), 400, 'MASK_TOO_WEAK');
      expect(err.message).toMatch(/bits/);
    }
    expect(await licenseCount(s, app.id)).toBe(0);
  });

  it('accepts a mask just above the bar (12 X = 62 bits)', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    expect((await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, format: 'custom', custom_format: 'XXXXXXXXXXXX' })).statusCode).toBe(200);
    expectError(await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, format: 'custom', custom_format: 'XXXXXXXXXXX' }), 400, 'MASK_TOO_WEAK');
  });

  it('requires custom_format with the custom format, upper-case literals, and a clean prefix', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const cases: [Record<string, unknown>, string][] = [
      [{ format: 'custom' }, 'custom_format'],
      [{ format: 'custom', custom_format: 'xxxx-xxxx-xxxx-xxxx' }, 'custom_format'],
      [{ format: 'custom', custom_format: 'XXXX XXXX XXXX XXXX' }, 'custom_format'],
      [{ prefix: 'has space' }, 'prefix'],
      [{ prefix: 'P'.repeat(33) }, 'prefix'],
      [{ format: 'hex' }, 'format'],
    ];
    for (const [extra, field] of cases) {
      const err = expectError(await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1, ...extra }), 400, 'VALIDATION_ERROR');
      // The schema reports `body.<field>`, the core's own checks `<field>`: either names the field.
      expect(
        err.details?.map((d) => d.path.replace(/^body\./, '')),
        JSON.stringify(extra),
      ).toEqual([field]);
    }
    expect(await licenseCount(s, app.id)).toBe(0);
  });
});

describe('generating a bad count', () => {
  it('refuses 0, negative, fractional and over-100000 counts with 400', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    for (const count of [0, -1, 1.5, 100_001, '5']) {
      const err = expectError(await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count }), 400, 'VALIDATION_ERROR');
      expect(err.details?.map((d) => d.path)).toEqual(['body.count']);
    }
    expect(await licenseCount(s, app.id)).toBe(0);
  });

  it('never answers more than 1000 keys synchronously: 1001 becomes a queued job (202), made by a worker', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1001 });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ job: expect.objectContaining({ id: expect.any(Number), status: 'queued', count: 1001, generated: 0, progress: 0 }) });
    expect(res.json()).not.toHaveProperty('licenses');
    // No worker runs in this file: nothing was made inside the request.
    expect(await licenseCount(s, app.id)).toBe(0);
  });

  it('answers 404 for a plan that does not exist', async () => {
    const s = await h.seller();
    expect(expectError(await s.call('POST', '/api/licenses/generate', { plan_id: 987654, count: 1 }), 404, 'NOT_FOUND').message).toBe('Plan not found');
  });
});

describe('listing with bad query parameters', () => {
  it('answers 400 for per_page 0 or 501, page 0, an unknown status or a malformed filter', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    for (const query of ['per_page=0', 'per_page=501', 'per_page=abc', 'page=0', 'page=-1', 'status=deleted', 'plan_id=abc', 'discord_user_id=abc', `search=${'s'.repeat(201)}`]) {
      const err = expectError(await s.call('GET', `/api/applications/${app.id}/licenses?${query}`), 400, 'VALIDATION_ERROR');
      expect(err.details?.[0]?.path, query).toMatch(/^querystring\./);
      expectError(await s.call('GET', `/api/licenses/mine?${query}`), 400, 'VALIDATION_ERROR');
    }
    expect((await s.call('GET', `/api/applications/${app.id}/licenses?per_page=500`)).statusCode).toBe(200);
    expect((await s.call('GET', `/api/applications/${app.id}/licenses?per_page=1`)).statusCode).toBe(200);
  });

  it('answers 404 for an application that does not exist', async () => {
    const s = await h.seller();
    expectError(await s.call('GET', '/api/applications/987654/licenses'), 404, 'NOT_FOUND');
  });
});

describe('changing licenses with bad input', () => {
  it('refuses notes over 1000 characters and keeps the old notes', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id, 1, { notes: 'original' });
    const err = expectError(await s.call('PUT', `/api/licenses/${l!.id}/notes`, { notes: 'n'.repeat(1001) }), 400, 'VALIDATION_ERROR');
    expect(err.details?.map((d) => d.path)).toEqual(['body.notes']);
    expectError(await s.call('PUT', `/api/licenses/${l!.id}/notes`, {}), 400, 'VALIDATION_ERROR');
    expect((await s.call('GET', `/api/licenses/${l!.id}`)).json().notes).toBe('original');
  });

  it('refuses to unban a license that is not banned with 409', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: l!.license_key, hwid: 'PC' });
    const before = (await s.call('GET', `/api/licenses/${l!.id}`)).json();
    expectError(await s.call('POST', `/api/licenses/${l!.id}/unban`), 409, 'NOT_BANNED');
    expect((await s.call('GET', `/api/licenses/${l!.id}`)).json()).toEqual(before);
  });

  it('refuses to extend a lifetime license with 409, and a bad day count with 400', async () => {
    const s = await h.seller();
    const { plan } = await s.setup({ plan: { duration_days: 0 } });
    const [l] = await s.generate(plan.id);
    const before = (await s.call('GET', `/api/licenses/${l!.id}`)).json();
    expectError(await s.call('POST', `/api/licenses/${l!.id}/extend`, { days: 30 }), 409, 'LIFETIME_LICENSE');
    for (const days of [0, -3, 1.5, 'ten', 36_501]) {
      expectError(await s.call('POST', `/api/licenses/${l!.id}/extend`, { days }), 400, 'VALIDATION_ERROR');
    }
    expectError(await s.call('POST', `/api/licenses/${l!.id}/extend`), 400, 'VALIDATION_ERROR');
    expect((await s.call('GET', `/api/licenses/${l!.id}`)).json()).toEqual(before);
  });

  it('refuses an extension that would end after the year 9999 with 400, activated or not, and changes nothing', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [activated, fresh] = await s.generate(plan.id, 2);
    await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: activated!.license_key, hwid: 'PC' });
    // Licenses already extended for millennia (as many 100-year extensions would leave them).
    await h.deps.db.query(`update licenses set expires_at = '9950-01-01T00:00:00Z' where id = $1`, [activated!.id]);
    await h.deps.db.query(`update licenses set duration_days = 2900000 where id = $1`, [fresh!.id]);
    for (const l of [activated!, fresh!]) {
      const before = (await s.call('GET', `/api/licenses/${l.id}`)).json();
      const err = expectError(await s.call('POST', `/api/licenses/${l.id}/extend`, { days: 36_500 }), 400, 'VALIDATION_ERROR');
      expect(err.details?.map((d) => d.path)).toEqual(['days']);
      expect((await s.call('GET', `/api/licenses/${l.id}`)).json()).toEqual(before);
      // Days that still fit are taken.
      expect((await s.call('POST', `/api/licenses/${l.id}/extend`, { days: 10 })).statusCode).toBe(200);
    }
    expect((await s.call('GET', `/api/licenses/${activated!.id}`)).json().expires_at).toBe('9950-01-11T00:00:00.000Z');
    expect((await client(h, '/api/licenses/validate', { app_id: app.app_id, license_key: fresh!.license_key, hwid: 'PC' })).json().code).toBe('VALID');
  });

  it('refuses a ban reason over 500 characters', async () => {
    const s = await h.seller();
    const { plan } = await s.setup();
    const [l] = await s.generate(plan.id);
    expectError(await s.call('POST', `/api/licenses/${l!.id}/ban`, { reason: 'r'.repeat(501) }), 400, 'VALIDATION_ERROR');
    expect((await s.call('GET', `/api/licenses/${l!.id}`)).json().status).toBe('inactive');
  });
});

describe('licenses that do not exist', () => {
  it('answer 404 "License not found" on every route', async () => {
    const s = await h.seller();
    for (const [method, url, body] of [
      ['GET', '/api/licenses/987654', undefined],
      ['PUT', '/api/licenses/987654/notes', { notes: 'x' }],
      ['DELETE', '/api/licenses/987654', undefined],
      ['POST', '/api/licenses/987654/reset-hwid', undefined],
      ['GET', '/api/licenses/987654/users', undefined],
      ['POST', '/api/licenses/987654/ban', { reason: 'x' }],
      ['POST', '/api/licenses/987654/unban', undefined],
      ['POST', '/api/licenses/987654/extend', { days: 1 }],
    ] as const) {
      expect(expectError(await s.call(method, url, body), 404, 'NOT_FOUND').message, `${method} ${url}`).toBe('License not found');
    }
  });
});
