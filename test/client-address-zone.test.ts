import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAddress, normalizeIp } from '../src/core/blacklists/ip-range.js';
import { limitKeyOf } from '../src/http/client-address.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Audit of the client paths: client addresses. `isIP` accepts an IPv6 address with any zone index
 * (`fe80::%zz`), and the address parser read the zone's text as hextets: BigInt(NaN) threw, so a
 * forwarded address like that made every client route a 500 (the rate limit keys on it), and a
 * blacklist entry like that a 500 for the seller.
 */

let h: Harness;
let s: Seller;

beforeAll(async () => {
  h = await startHarness({ env: { TRUST_PROXY: '1' } });
  s = await h.seller();
});
afterAll(() => h?.close());

describe('an IPv6 address with a zone index', () => {
  it('is read as the address without it', () => {
    expect(clientAddress('fe80::%zz')).toBe(clientAddress('fe80::'));
    expect(clientAddress('fe80::1%a.b.c')).toBe(clientAddress('fe80::1'));
    expect(normalizeIp('fe80::%zz/64')?.value).toBe('fe80::/64');
    expect(limitKeyOf('fe80::1%zz')).toBe(limitKeyOf('fe80::2'));
  });

  it('forwarded by the proxy gets the decided answer of every client route, never a 500', async () => {
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    // A blacklist with an address range, so validate reads the client address too.
    expect((await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'ip', value: '203.0.113.0/24' })).statusCode).toBe(201);
    const headers = { 'x-forwarded-for': 'fe80::%zz' };
    const body = { app_id: app.app_id, license_key: lic!.license_key, hwid: 'HW-ZONE', username: 'zoned', password: 'zoned password 1' };
    const validate = await h.app.inject({ method: 'POST', url: '/api/licenses/validate', headers, payload: body });
    expect(validate.statusCode, validate.body).toBe(200);
    expect(validate.json()).toMatchObject({ success: true, code: 'VALID' });
    for (const url of ['/api/licenses/check-expiration', '/api/licenses/heartbeat', '/api/licenses/lease', '/api/user-auth/login']) {
      const res = await h.app.inject({ method: 'POST', url, headers, payload: body });
      expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(500);
    }
  });

  it('as a blacklist entry is stored without the zone, not a 500', async () => {
    const { app } = await s.setup();
    const res = await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'ip', value: 'fe80::%zz/64' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().value).toBe('fe80::/64');
  });
});
