import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycordClient, verifyLease } from '../src/client/index.js';
import { client, startHarness, type AppView, type Harness, type Seller } from './support/harness.js';

/** POST /api/licenses/lease (API.md "Offline leases and floating seats"), against a real server. */
let h: Harness;
let s: Seller;
beforeAll(async () => {
  // Usage is flushed only when a test asks, so round trips can be counted per request.
  h = await startHarness({ countRoundTrips: true, env: { USAGE_FLUSH_MS: '60000' } });
  s = await h.seller();
});
afterAll(() => h?.close());

const HOUR = 3_600_000;
const lease = (body: Record<string, unknown>) => client(h, '/api/licenses/lease', body);
const validate = (body: Record<string, unknown>) => client(h, '/api/licenses/validate', body);

async function setup(o: { settings?: Record<string, unknown>; plan?: Record<string, unknown> } = {}) {
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, ...o.settings }, ...(o.plan ? { plan: o.plan } : {}) });
  const [license] = await s.generate(plan.id);
  return { app, plan, key: license!.license_key, licenseId: license!.id };
}

const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));

/** Another application's public key (64 hex), as the seller API gives it. */
function otherPublicKey(): string {
  const spki = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32).toString('hex');
}

describe('a lease for a valid key', () => {
  it('is signed with the application key, bound to the HWID, and verifies offline', async () => {
    const { app, plan, key } = await setup();
    const before = Date.now();
    const res = await lease({ app_id: app.app_id, license_key: key, hwid: 'PC-1' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    const body = res.json();
    expect(body).toMatchObject({ success: true, code: 'VALID' });
    expect(body.lease).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);

    const verified = verifyLease(body.lease, app.public_key, { hwid: 'PC-1' });
    expect(verified.status).toBe('valid');
    const payload = verified.status === 'valid' ? verified.payload : null;
    expect(payload).toMatchObject({ v: 1, app_id: app.app_id, license_key: key, hwid: 'PC-1', plan: { id: plan.id, name: plan.name } });
    expect(payload!.lease_expires_at).toBe(body.lease_expires_at);
    // Default: the whole max_offline_hours (72 by default), well within the 30-day license.
    const issued = Date.parse(payload!.issued_at);
    expect(issued).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(payload!.lease_expires_at) - issued).toBe(72 * HOUR);
    expect(Date.parse(payload!.license_expires_at!) - issued).toBeGreaterThan(29 * 24 * HOUR);
    // It bound the HWID as validate does.
    expect((await validate({ app_id: app.app_id, license_key: key, hwid: 'PC-1' })).json().code).toBe('VALID');
    expect((await lease({ app_id: app.app_id, license_key: key, hwid: 'PC-2' })).json()).toEqual(expect.objectContaining({ success: false, code: 'HWID_MISMATCH' }));
  });

  it('through the SDK: the signed answer echoes the nonce and the request, and the lease verifies', async () => {
    const { app, key } = await setup();
    const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const answer = await new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key }).requestLease({ licenseKey: key, hwid: 'SDK-PC', ttlHours: 2 });
    expect(answer).toMatchObject({ success: true, code: 'VALID' });
    expect(verifyLease(answer.lease!, app.public_key, { hwid: 'SDK-PC' }).status).toBe('valid');
    // A forged server (another key) is refused before the lease is even looked at.
    await expect(new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: otherPublicKey() }).requestLease({ licenseKey: key, hwid: 'SDK-PC' })).rejects.toThrow(/signature/);
  });
});

describe('verifying a lease offline refuses', () => {
  let app: AppView;
  let token: string;
  beforeAll(async () => {
    const made = await setup();
    app = made.app;
    token = (await lease({ app_id: app.app_id, license_key: made.key, hwid: 'PC-1', ttl_hours: 10 })).json().lease;
  });

  it('a tampered payload, as bad_signature', () => {
    const [body, sig] = token.split('.') as [string, string];
    const changed = { ...payloadOf(token), lease_expires_at: '2999-01-01T00:00:00.000Z' };
    const forged = `${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${sig}`;
    expect(verifyLease(forged, app.public_key, { hwid: 'PC-1' }).status).toBe('bad_signature');
    expect(body).not.toBe(forged.split('.')[0]);
  });

  it('a tampered signature, as bad_signature', () => {
    const [body, sig] = token.split('.') as [string, string];
    const bytes = Buffer.from(sig, 'base64url');
    bytes[10] = bytes[10]! ^ 0x01;
    expect(verifyLease(`${body}.${bytes.toString('base64url')}`, app.public_key, { hwid: 'PC-1' }).status).toBe('bad_signature');
  });

  it("another application's public key, as bad_signature", () => {
    expect(verifyLease(token, otherPublicKey(), { hwid: 'PC-1' }).status).toBe('bad_signature');
  });

  it('another HWID, as wrong_hwid', () => {
    expect(verifyLease(token, app.public_key, { hwid: 'PC-2' }).status).toBe('wrong_hwid');
    expect(verifyLease(token, app.public_key, { hwid: ' PC-1 ' }).status).toBe('valid');
  });

  it("another license's lease, as wrong_license, when the app says which key it runs with", () => {
    const key = payloadOf(token).license_key;
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', licenseKey: 'SOME-OTHER-KEY' }).status).toBe('wrong_license');
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', licenseKey: ` ${key.toLowerCase()} ` }).status).toBe('valid');
  });

  it('a lease at or past its end, as expired', () => {
    const end = Date.parse(payloadOf(token).lease_expires_at);
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', now: end - 1 }).status).toBe('valid');
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', now: end }).status).toBe('expired');
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', now: new Date(end + 24 * HOUR) }).status).toBe('expired');
  });

  it('a lease issued in the future of the local clock (a clock set back), as expired, within a 5-minute skew', () => {
    const issued = Date.parse(payloadOf(token).issued_at);
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', now: issued - 4 * 60_000 }).status).toBe('valid');
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', now: issued - 6 * 60_000 }).status).toBe('expired');
    expect(verifyLease(token, app.public_key, { hwid: 'PC-1', now: issued - 365 * 24 * HOUR }).status).toBe('expired');
  });

  it('anything that is not a lease, as malformed', () => {
    const [body] = token.split('.') as [string, string];
    for (const bad of ['', 'abc', `${body}.`, `${body}.${token.split('.')[1]}.x`, `${body}.AAAA`, `${body}!.${token.split('.')[1]}`, 'x'.repeat(20_000)]) {
      expect(verifyLease(bad, app.public_key, { hwid: 'PC-1' }).status, bad.slice(0, 40)).toBe('malformed');
    }
    expect(() => verifyLease(token, 'not-a-key', { hwid: 'PC-1' })).toThrow(TypeError);
  });
});

describe('no lease where validate says no', () => {
  it('an unknown, banned or expired key: the code of validate, and no lease', async () => {
    const { app, key, licenseId } = await setup();
    const unknown = (await lease({ app_id: app.app_id, license_key: 'NOPE-NOPE-NOPE', hwid: 'PC-1' })).json();
    expect(unknown).toMatchObject({ success: false, code: 'NOT_FOUND' });
    expect(unknown.lease).toBeUndefined();

    expect((await s.call('POST', `/api/licenses/${licenseId}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);
    const banned = (await lease({ app_id: app.app_id, license_key: key, hwid: 'PC-1' })).json();
    expect(banned).toMatchObject({ success: false, code: 'BANNED' });
    expect(banned.lease).toBeUndefined();

    const other = await setup();
    expect((await validate({ app_id: other.app.app_id, license_key: other.key, hwid: 'PC-1' })).json().code).toBe('VALID');
    await h.deps.db.query(`update licenses set expires_at = now() - interval '1 hour' where id = $1`, [other.licenseId]);
    const expired = (await lease({ app_id: other.app.app_id, license_key: other.key, hwid: 'PC-1' })).json();
    expect(expired).toMatchObject({ success: false, code: 'EXPIRED' });
    expect(expired.lease).toBeUndefined();
  });

  it('a blacklisted HWID: BLACKLISTED, no lease, and nothing bound', async () => {
    const { app, key } = await setup();
    expect((await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'CRACKER-PC' })).statusCode).toBe(201);
    const res = (await lease({ app_id: app.app_id, license_key: key, hwid: 'CRACKER-PC' })).json();
    expect(res).toMatchObject({ success: false, code: 'BLACKLISTED' });
    expect(res.lease).toBeUndefined();
    expect((await lease({ app_id: app.app_id, license_key: key, hwid: 'GOOD-PC' })).json().code).toBe('VALID');
  });

  it('bad input is a 400, an unknown application a 404', async () => {
    const { app, key } = await setup();
    for (const body of [
      { app_id: app.app_id, license_key: key },
      { app_id: app.app_id, license_key: key, hwid: '' },
      { app_id: app.app_id, license_key: key, hwid: 'x'.repeat(257) },
      { app_id: app.app_id, license_key: key, hwid: 'PC', ttl_hours: 0 },
      { app_id: app.app_id, license_key: key, hwid: 'PC', ttl_hours: 8761 },
      { app_id: app.app_id, license_key: key, hwid: 'PC', ttl_hours: 1.5 },
    ]) {
      expect((await lease(body)).statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    expect((await lease({ app_id: '00000000-0000-4000-8000-000000000000', license_key: key, hwid: 'PC' })).statusCode).toBe(404);
  });
});

describe('lease length', () => {
  it('max_offline_hours 0 turns leases off (LEASES_DISABLED); a plan setting overrides the application', async () => {
    const off = await setup({ settings: { max_offline_hours: 0 } });
    expect(off.app.settings.max_offline_hours).toBe(0);
    const refused = (await lease({ app_id: off.app.app_id, license_key: off.key, hwid: 'PC-1' })).json();
    expect(refused).toMatchObject({ success: false, code: 'LEASES_DISABLED' });
    expect(refused.lease).toBeUndefined();

    // The plan allows 5 hours where the application allows none.
    const planOn = await s.call('PUT', `/api/plans/${off.plan.id}`, { max_offline_hours: 5 });
    expect(planOn.json().max_offline_hours).toBe(5);
    const on = (await lease({ app_id: off.app.app_id, license_key: off.key, hwid: 'PC-1' })).json();
    expect(on.code).toBe('VALID');
    const p = payloadOf(on.lease);
    expect(Date.parse(p.lease_expires_at) - Date.parse(p.issued_at)).toBe(5 * HOUR);

    // And none where the application allows 72 hours.
    const planOff = await setup({ plan: { max_offline_hours: 0 } });
    expect(planOff.plan).toMatchObject({ max_offline_hours: 0 });
    expect((await lease({ app_id: planOff.app.app_id, license_key: planOff.key, hwid: 'PC-1' })).json()).toMatchObject({ success: false, code: 'LEASES_DISABLED' });
  });

  it('ttl_hours is capped by max_offline_hours, and defaults to it', async () => {
    const { app, key } = await setup({ settings: { max_offline_hours: 10 } });
    const hoursOf = async (ttl?: number) => {
      const p = payloadOf((await lease({ app_id: app.app_id, license_key: key, hwid: 'PC-1', ...(ttl ? { ttl_hours: ttl } : {}) })).json().lease);
      return (Date.parse(p.lease_expires_at) - Date.parse(p.issued_at)) / HOUR;
    };
    expect(await hoursOf(3)).toBe(3);
    expect(await hoursOf(100)).toBe(10);
    expect(await hoursOf()).toBe(10);
  });

  it('never outlives its license; a lifetime license gets now + ttl', async () => {
    const short = await setup({ settings: { max_offline_hours: 8760 }, plan: { duration_days: 1 } });
    const body = (await lease({ app_id: short.app.app_id, license_key: short.key, hwid: 'PC-1' })).json();
    const p = payloadOf(body.lease);
    expect(p.license_expires_at).not.toBeNull();
    expect(p.lease_expires_at).toBe(p.license_expires_at);
    expect(body.lease_expires_at).toBe(p.license_expires_at);

    const lifetime = await setup({ plan: { name: 'Lifetime', duration_days: 0 } });
    const q = payloadOf((await lease({ app_id: lifetime.app.app_id, license_key: lifetime.key, hwid: 'PC-1', ttl_hours: 48 })).json().lease);
    expect(q.license_expires_at).toBeNull();
    expect(Date.parse(q.lease_expires_at) - Date.parse(q.issued_at)).toBe(48 * HOUR);
  });

  it('the setting and the plan column are bounded (0..8760)', async () => {
    const { app, plan } = await setup();
    expect((await s.call('PUT', `/api/applications/${app.id}`, { settings: { max_offline_hours: 8761 } })).statusCode).toBe(400);
    expect((await s.call('PUT', `/api/applications/${app.id}`, { settings: { max_offline_hours: -1 } })).statusCode).toBe(400);
    expect((await s.call('PUT', `/api/plans/${plan.id}`, { max_offline_hours: 9000 })).statusCode).toBe(400);
    const back = await s.call('PUT', `/api/plans/${plan.id}`, { max_offline_hours: null });
    expect(back.json().max_offline_hours).toBeNull();
  });
});

describe('database round trips of a lease', () => {
  // One statement more than validate: the lease is written down (license_leases) so the seller's
  // and the customer's views can show it. A machine asks once per half-lease (hours), not per start.
  it('a lease costs the validation it decides with, plus the one statement that records it', async () => {
    const { app, key } = await setup();
    const body = { app_id: app.app_id, license_key: key, hwid: 'PC-0' };
    expect((await validate(body)).json().code).toBe('VALID');
    await h.deps.usage.flush();
    // Warm both: the first use of a statement on a connection pays a Describe.
    await validate(body);
    await lease(body);
    const validation = await h.roundTrips!.measure(async () => expect((await validate(body)).json().code).toBe('VALID'));
    const leased = await h.roundTrips!.measure(async () => expect((await lease(body)).json().code).toBe('VALID'));
    expect(leased.statements, JSON.stringify({ leased, validation })).toBe(validation.statements + 1);
    expect(leased.roundTrips, JSON.stringify({ leased, validation })).toBeLessThanOrEqual(validation.roundTrips + 1);
    expect(leased.roundTrips).toBeLessThanOrEqual(3);
  });
});
