import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycordClient } from '../src/client/index.js';
import { bodyKey, decryptBody, encryptBody } from '../src/core/body-encryption.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type AppView, type Harness, type PlanView, type Seller } from './support/harness.js';

/**
 * Audit of the client paths: encrypted requests. An encrypted body whose sealed `app_id` is not
 * text crashed the guard (500); and `GET /api/user-auth/me`, which learns its application from the
 * user token, neither honoured `require_encryption` nor could be called encrypted by the SDK.
 */

let h: Harness;
let base: string;
let s: Seller;
let app: AppView;
let plan: PlanView;

beforeAll(async () => {
  h = await startHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  s = await h.seller();
  ({ app, plan } = await s.setup({ settings: { require_encryption: true } }));
});
afterAll(() => h?.close());

const sdk = (encrypt: boolean, target: AppView = app) => new KeycordClient({ baseUrl: base, appId: target.app_id, publicKey: target.public_key, secret: target.secret, encrypt });

const sealed = (target: AppView, inner: unknown) =>
  h.app.inject({
    method: 'POST',
    url: '/api/licenses/validate',
    headers: { 'x-body-encryption': 'aes-256-gcm' },
    payload: { app_id: target.app_id, payload: encryptBody(bodyKey(target.secret, target.app_id), JSON.stringify(inner)) },
  });

describe('an encrypted body whose sealed app_id is not text', () => {
  it('is refused 400 DECRYPTION_FAILED (signed), never a 500', async () => {
    const [lic] = await s.generate(plan.id);
    for (const appId of [{ toString: 1 }, { valueOf: null, toString: null }, [app.app_id], 42]) {
      const res = await sealed(app, { app_id: appId, license_key: lic!.license_key, hwid: 'HW' });
      expectError(res, 400, 'DECRYPTION_FAILED');
      expect(res.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    }
    // The same key validates once its app_id is the application's own.
    const ok = await sealed(app, { app_id: app.app_id.toUpperCase(), license_key: lic!.license_key, hwid: 'HW' });
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(decryptBody(bodyKey(app.secret, app.app_id), ok.json().payload)!)).toMatchObject({ code: 'VALID' });
  });
});

describe('the SDK given its application id in upper case', () => {
  it('encrypts with the key the server derives (ids are case-insensitive)', async () => {
    const [lic] = await s.generate(plan.id);
    const upper = new KeycordClient({ baseUrl: base, appId: app.app_id.toUpperCase(), publicKey: app.public_key, secret: app.secret, encrypt: true });
    expect(await upper.validate({ licenseKey: lic!.license_key, hwid: 'HW-UPPER' })).toMatchObject({ success: true, code: 'VALID' });
  });
});

describe('GET /api/user-auth/me of an application with require_encryption', () => {
  it('refuses a plain request with ENCRYPTION_REQUIRED instead of answering the profile (and its license key) in clear', async () => {
    const [lic] = await s.generate(plan.id);
    const session = await sdk(true).register({ licenseKey: lic!.license_key, username: 'sealed_me', password: 'sealed password 1', hwid: 'HW-ME' });
    const plain = await h.app.inject({ method: 'GET', url: '/api/user-auth/me', query: { nonce: 'nonce-plain-1' }, headers: { authorization: `Bearer ${session.token}` } });
    expect(plain.statusCode, plain.body).toBe(400);
    // Bound to the request like every refusal of a client route that sent a nonce.
    expect(plain.json()).toMatchObject({ success: false, code: 'ENCRYPTION_REQUIRED', nonce: 'nonce-plain-1', request: { route: 'GET /api/user-auth/me' } });
    expect(plain.body).not.toContain(lic!.license_key);
    expect(plain.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    // Naming the application does not help either.
    const named = await h.app.inject({ method: 'GET', url: '/api/user-auth/me', query: { app_id: app.app_id }, headers: { authorization: `Bearer ${session.token}` } });
    expectError(named, 400, 'ENCRYPTION_REQUIRED');
  });

  it("is answered to the SDK's encrypted call, encrypted", async () => {
    const [lic] = await s.generate(plan.id);
    const c = sdk(true);
    const session = await c.register({ licenseKey: lic!.license_key, username: 'sealed_me2', password: 'sealed password 2', hwid: 'HW-ME2' });
    const profile = await c.me(session.token);
    expect(profile.user.username).toBe('sealed_me2');
    expect(profile.license?.license_key).toBe(lic!.license_key);
  });
});

describe('GET /api/user-auth/me naming an application', () => {
  it("refuses a token of another application (401), and the SDK's plain call still works", async () => {
    const { app: open, plan: openPlan } = await s.setup();
    const [lic] = await s.generate(openPlan.id);
    const c = sdk(false, open);
    const session = await c.register({ licenseKey: lic!.license_key, username: 'open_me', password: 'open password 1', hwid: 'HW-OPEN' });
    expect((await c.me(session.token)).user.username).toBe('open_me');
    expect((await sdk(true, open).me(session.token)).user.username).toBe('open_me');
    const { app: other } = await s.setup();
    const crossed = await h.app.inject({ method: 'GET', url: '/api/user-auth/me', query: { app_id: other.app_id }, headers: { authorization: `Bearer ${session.token}` } });
    expectError(crossed, 401, 'UNAUTHORIZED');
  });
});
