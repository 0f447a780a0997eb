import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycordApiError, KeycordClient } from '../src/client/index.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Audit of the client paths: the SDK's user calls. A blacklisted device is refused with a 200
 * `{success: false, code: "BLACKLISTED"}` (API.md); `register` and `login` handed that back as
 * the session (no token, no user) where every other refusal of theirs is thrown. And the log-in
 * limit's 429, which Keycord answers before it knows the application (so unsigned), was thrown as
 * a KeycordVerificationError ("not signed"): a customer app could not tell a rate-limited log-in
 * from a forged server. The status is not signed, the body is: a signed refusal of a private
 * variable (or of a profile) whose status a man in the middle rewrote to 200 was handed back as
 * the variable (the profile), with no value.
 */

let h: Harness;
let base: string;
let s: Seller;

beforeAll(async () => {
  h = await startHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  s = await h.seller();
});
afterAll(() => h?.close());

describe('the SDK on a blacklisted device', () => {
  it('throws BLACKLISTED from register and login instead of returning it as a session', async () => {
    const { app, plan } = await s.setup();
    const [lic, other] = await s.generate(plan.id, 2);
    const c = new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key });
    const session = await c.register({ licenseKey: lic!.license_key, username: 'listed_user', password: 'listed password 1', hwid: 'HW-OK' });
    expect(session.token).toEqual(expect.any(String));
    expect((await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'HW-BAD' })).statusCode).toBe(201);

    const refusal = (p: Promise<unknown>) =>
      p.then(
        (value) => ({ value }),
        (err: unknown) => ({ err }),
      );
    const login = await refusal(c.login({ username: 'listed_user', password: 'listed password 1', hwid: 'HW-BAD' }));
    expect(login).toEqual({ err: expect.any(KeycordApiError) });
    expect((login as { err: KeycordApiError }).err).toMatchObject({ status: 200, code: 'BLACKLISTED' });
    const register = await refusal(c.register({ licenseKey: other!.license_key, username: 'listed_user2', password: 'listed password 2', hwid: 'HW-BAD' }));
    expect((register as { err: KeycordApiError }).err).toMatchObject({ status: 200, code: 'BLACKLISTED' });
    // The same calls from a device not on the list still work.
    expect((await c.login({ username: 'listed_user', password: 'listed password 1', hwid: 'HW-OK' })).user.username).toBe('listed_user');
  });
});

/** Passes calls to Keycord and hands back its (signed) answers with the status rewritten to 200. */
const statusTo200: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  return new Response(new Uint8Array(await res.arrayBuffer()), { status: 200, headers: [...res.headers] });
};

describe('the SDK given a signed refusal with its status rewritten to 200', () => {
  it('throws it for a private variable and for a profile, never returning it as the value', async () => {
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'secret_flag', value: 'on', public: false })).statusCode).toBe(201);
    const tampered = new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key, fetch: statusTo200 });
    const variable = await tampered.getVariable('secret_flag', { licenseKey: lic!.license_key, hwid: 'HW-ONE' }).catch((err: unknown) => err);
    expect(variable).toEqual(expect.objectContaining({ value: 'on' }));
    const refused = await tampered.getVariable('secret_flag', { licenseKey: lic!.license_key, hwid: 'HW-OTHER' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(KeycordApiError);
    expect(refused).toMatchObject({ code: 'FORBIDDEN' });
    const profile = await tampered.me('not.a.token').catch((err: unknown) => err);
    expect(profile).toBeInstanceOf(KeycordApiError);
  });
});

describe('the SDK past the log-in limit', () => {
  let limited: Harness;
  let limitedBase: string;
  beforeAll(async () => {
    limited = await startHarness({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '3' } });
    limitedBase = await limited.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => limited?.close());

  it('throws RATE_LIMITED as a KeycordApiError, not as a verification error', async () => {
    // The seller's own sign-up counts against the same per-address limit.
    const seller = await limited.seller();
    const { app } = await seller.setup();
    const c = new KeycordClient({ baseUrl: limitedBase, appId: app.app_id, publicKey: app.public_key });
    const attempts: unknown[] = [];
    for (let i = 0; i < 4; i++) attempts.push(await c.login({ username: 'nobody_here', password: 'not the password', hwid: 'HW' }).catch((err: unknown) => err));
    for (const err of attempts) expect(err).toBeInstanceOf(KeycordApiError);
    expect(attempts.map((e) => (e as KeycordApiError).code)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'RATE_LIMITED', 'RATE_LIMITED']);
    expect(attempts.at(-1)).toMatchObject({ status: 429 });
  });
});
