import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadSignedText } from '../src/client/answer-binding.js';
import { KeycordApiError, KeycordClient, KeycordVerificationError } from '../src/client/index.js';
import { bodyKey, decryptBody, encryptBody } from '../src/core/body-encryption.js';
import { expectError } from './support/expect-error.js';
import { multipart } from './support/multipart.js';
import { verifySigned } from './support/client-signature.js';
import { client as post, startHarness, type AppView, type Harness, type PlanView, type Seller } from './support/harness.js';
import { rewriting } from './support/man-in-the-middle.js';

/**
 * Finding 7 of the hostile audit: a signed answer proved only that Keycord had said it once, so a
 * recorded answer passed for another request. Every answer now names the request it answers (its
 * nonce, route and subject) inside what is signed, and the SDK checks that before trusting it.
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
  ({ app, plan } = await s.setup());
});
afterAll(() => h?.close());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const modes = [
  { mode: 'plain', options: {} },
  { mode: 'encrypted', options: { encrypt: true } },
] as const;

const sdk = (extra: Partial<ConstructorParameters<typeof KeycordClient>[0]> = {}) => new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key, secret: app.secret, ...extra });

interface Recorded {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

/** A fetch that passes calls to Keycord and keeps a copy of every answer, as a wiretap would. */
function wiretap() {
  const answers: Recorded[] = [];
  const tapped: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const recorded = { status: res.status, headers: [...res.headers], body: Buffer.from(await res.arrayBuffer()) };
    answers.push(recorded);
    return replayed(recorded);
  };
  return { fetch: tapped, answers };
}

const replayed = (answer: Recorded) => new Response(new Uint8Array(answer.body), { status: answer.status, headers: answer.headers });

/** A replaying server: every call gets the same recorded answer. */
const replaying =
  (answer: Recorded): typeof fetch =>
  async () =>
    replayed(answer);

async function registeredUser(username: string, password: string, hwid: string) {
  const [lic] = await s.generate(plan.id);
  const session = await sdk().register({ licenseKey: lic!.license_key, username, password, hwid });
  return { license: lic!, token: session.token };
}

async function uploadedFile(content: string) {
  const form = multipart([{ name: 'file', filename: 'build.bin', data: Buffer.from(content) }]);
  const res = await s.call('POST', `/api/applications/${app.id}/files`, form.payload as never, form.headers);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as number;
}

describe('the SDK refuses an answer that was not given to its request', () => {
  it.each(modes)('a recorded successful login replayed to a login with a wrong password is refused ($mode)', async ({ mode, options }) => {
    await registeredUser(`replayed_${mode}`, 'right password 1', 'HW-R');
    const tap = wiretap();
    await sdk({ ...options, fetch: tap.fetch }).login({ username: `replayed_${mode}`, password: 'right password 1', hwid: 'HW-R' });
    const [success] = tap.answers;
    expect(success!.status).toBe(200);

    const attacked = sdk({ ...options, fetch: replaying(success!) });
    await expect(attacked.login({ username: `replayed_${mode}`, password: 'wrong password', hwid: 'HW-R' })).rejects.toThrow(KeycordVerificationError);
    await expect(attacked.login({ username: 'someone_else', password: 'right password 1', hwid: 'HW-R' })).rejects.toThrow(KeycordVerificationError);
    // The same answer given again to the very same call is refused too: its nonce was for another call.
    await expect(attacked.login({ username: `replayed_${mode}`, password: 'right password 1', hwid: 'HW-R' })).rejects.toThrow(/nonce/);
  });

  it("a login answer fetched for the attacker's own account with the victim's nonce is refused", async () => {
    await registeredUser('victim_user', 'victim password 1', 'HW-V');
    await registeredUser('attacker_user', 'attacker password 1', 'HW-V');
    const swapped = sdk({ fetch: rewriting((r) => Object.assign(r.body!, { username: 'attacker_user', password: 'attacker password 1' })) });
    await expect(swapped.login({ username: 'victim_user', password: 'guessed wrong', hwid: 'HW-V' })).rejects.toThrow(/not for this request/);
  });

  it('a VALID answer for another key or another machine, carrying the right nonce, is refused', async () => {
    const [good] = await s.generate(plan.id);
    await sdk().validate({ licenseKey: good!.license_key, hwid: 'OWNER-PC' });
    const otherKey = sdk({ fetch: rewriting((r) => Object.assign(r.body!, { license_key: good!.license_key, hwid: 'OWNER-PC' })) });
    await expect(otherKey.validate({ licenseKey: 'NOT-A-REAL-KEY-0000', hwid: 'OWNER-PC' })).rejects.toThrow(/not for this request/);
    const otherMachine = sdk({ fetch: rewriting((r) => Object.assign(r.body!, { hwid: 'OWNER-PC' })) });
    await expect(otherMachine.validate({ licenseKey: good!.license_key, hwid: 'PIRATE-PC' })).rejects.toThrow(/not for this request/);
    await expect(sdk().validate({ licenseKey: good!.license_key, hwid: 'PIRATE-PC' })).resolves.toMatchObject({ code: 'HWID_MISMATCH' });
  });

  it.each(modes)('a private variable answer for one name is refused as the answer for another ($mode)', async ({ mode, options }) => {
    await s.call('POST', `/api/applications/${app.id}/variables`, { name: `feature_flags_${mode}`, value: 'all-on', public: false });
    await s.call('POST', `/api/applications/${app.id}/variables`, { name: `kill_switch_${mode}`, value: 'off', public: false });
    const [lic] = await s.generate(plan.id);
    const proof = { licenseKey: lic!.license_key, hwid: 'VAR-PC' };
    expect(await sdk(options).getVariable(`kill_switch_${mode}`, proof)).toEqual({ name: `kill_switch_${mode}`, value: 'off' });

    // The path is in clear even when bodies are encrypted: the man in the middle asks for A instead of B.
    const swapped = sdk({ ...options, fetch: rewriting((r) => (r.url.pathname = `/api/variables/feature_flags_${mode}`)) });
    await expect(swapped.getVariable(`kill_switch_${mode}`, proof)).rejects.toThrow(/not for this request/);

    const tap = wiretap();
    await sdk({ ...options, fetch: tap.fetch }).getVariable(`feature_flags_${mode}`, proof);
    await expect(sdk({ ...options, fetch: replaying(tap.answers[0]!) }).getVariable(`kill_switch_${mode}`, proof)).rejects.toThrow(KeycordVerificationError);
  });

  it.each(modes)('a download of one file is refused as another file, and a recorded download is refused for a new call ($mode)', async ({ mode, options }) => {
    const wanted = await uploadedFile(`the build the customer asked for (${mode})`);
    const other = await uploadedFile(`an old, vulnerable build (${mode})`);
    const [lic] = await s.generate(plan.id);
    const proof = { licenseKey: lic!.license_key, hwid: 'DL-PC' };
    expect((await sdk(options).downloadFile(wanted, proof)).data.toString()).toContain('the customer asked for');

    const swapped = sdk({ ...options, fetch: rewriting((r) => (r.url.pathname = `/api/files/${other}/download`)) });
    await expect(swapped.downloadFile(wanted, proof)).rejects.toThrow(KeycordVerificationError);

    const tap = wiretap();
    await sdk({ ...options, fetch: tap.fetch }).downloadFile(other, proof);
    const recorded = tap.answers[0]!;
    await expect(sdk({ ...options, fetch: replaying(recorded) }).downloadFile(other, proof)).rejects.toThrow(/signature/);
    await expect(sdk({ ...options, fetch: replaying(recorded) }).downloadFile(wanted, proof)).rejects.toThrow(/signature/);
  });

  it("a download's name, which is not signed, is only ever a name: no path, and a malformed one is null", async () => {
    const file = await uploadedFile('a build with a name');
    const [lic] = await s.generate(plan.id);
    const proof = { licenseKey: lic!.license_key, hwid: 'NAME-PC' };
    /** A man in the middle that rewrites only the answer's Content-Disposition (the bytes and signature stay). */
    const naming =
      (disposition: string): typeof fetch =>
      async (input, init) => {
        const res = await fetch(input, init);
        const headers = new Headers(res.headers);
        headers.set('content-disposition', disposition);
        return new Response(new Uint8Array(await res.arrayBuffer()), { status: res.status, headers });
      };
    const nameFrom = async (disposition: string) => (await sdk({ fetch: naming(disposition) }).downloadFile(file, proof)).name;
    expect(await nameFrom(`attachment; filename*=UTF-8''..%2F..%2F.bashrc`)).toBe('.bashrc');
    expect(await nameFrom('attachment; filename="..\\..\\Startup\\run.exe"')).toBe('run.exe');
    expect(await nameFrom(`attachment; filename*=UTF-8''%E0%A4%A`)).toBeNull();
    expect(await nameFrom(`attachment; filename*=UTF-8''..`)).toBeNull();
    expect(await nameFrom(`attachment; filename*=UTF-8''build%0Av2.zip`)).toBe('buildv2.zip');
  });

  it("a user's profile answer is refused as the profile of another token", async () => {
    const alice = await registeredUser('profile_alice', 'alice password 1', 'HW-A');
    const bob = await registeredUser('profile_bob', 'bob password 1', 'HW-B');
    expect((await sdk().me(bob.token)).user.username).toBe('profile_bob');
    const swapped = sdk({ fetch: rewriting((r) => (r.headers.authorization = `Bearer ${alice.token}`)) });
    await expect(swapped.me(bob.token)).rejects.toThrow(/not for this request/);
  });

  it("a signed refusal recorded from another request is not taken as this request's answer", async () => {
    await registeredUser('refused_user', 'refused password 1', 'HW-X');
    const tap = wiretap();
    const refusal = await sdk({ fetch: tap.fetch })
      .login({ username: 'refused_user', password: 'wrong password', hwid: 'HW-X' })
      .catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(KeycordApiError);
    expect(refusal).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    await expect(sdk({ fetch: replaying(tap.answers[0]!) }).login({ username: 'refused_user', password: 'refused password 1', hwid: 'HW-X' })).rejects.toThrow(KeycordVerificationError);
  });
});

describe('the server names the request in every signed client answer', () => {
  it('echoes the nonce and the route with its subject on every client route, inside the signed body', async () => {
    const [lic, forUser, renewal] = await s.generate(plan.id, 3);
    const nonce = 'echo-me-0001';
    const route = (r: string) => ({ route: r });
    const answers: [LightMyRequestResponse, object][] = [];
    const expectBound = (res: LightMyRequestResponse, request: object) => answers.push([res, request]);

    expectBound(await post(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1', nonce }), {
      ...route('POST /api/licenses/validate'),
      license_key_sha256: sha256(lic!.license_key),
      hwid_sha256: sha256('PC-1'),
    });
    expectBound(await post(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key, nonce }), {
      ...route('POST /api/licenses/check-expiration'),
      license_key_sha256: sha256(lic!.license_key),
    });
    const created = await post(h, '/api/user-auth/create', { app_id: app.app_id, license_key: forUser!.license_key, username: 'echo_user', password: 'echo password 1', hwid: 'PC-2', nonce });
    expectBound(created, { ...route('POST /api/user-auth/create'), username: 'echo_user', license_key_sha256: sha256(forUser!.license_key), hwid_sha256: sha256('PC-2') });
    expectBound(await post(h, '/api/user-auth/login', { app_id: app.app_id, username: 'echo_user', password: 'echo password 1', hwid: 'PC-2', nonce }), {
      ...route('POST /api/user-auth/login'),
      username: 'echo_user',
      hwid_sha256: sha256('PC-2'),
    });
    expectBound(await post(h, '/api/user-auth/validate-license', { app_id: app.app_id, license_key: forUser!.license_key, hwid: 'PC-2', nonce }), {
      ...route('POST /api/user-auth/validate-license'),
      license_key_sha256: sha256(forUser!.license_key),
      hwid_sha256: sha256('PC-2'),
    });
    const token = created.json().token as string;
    expectBound(await h.app.inject({ method: 'GET', url: '/api/user-auth/me', query: { nonce }, headers: { authorization: `Bearer ${token}` } }), {
      ...route('GET /api/user-auth/me'),
      user_token_sha256: sha256(token),
    });
    const update = { app_id: app.app_id, old_license_key: forUser!.license_key, new_license_key: renewal!.license_key, hwid: 'PC-2', nonce };
    expectBound(await post(h, '/api/user-auth/update-license', update), {
      ...route('POST /api/user-auth/update-license'),
      old_license_key_sha256: sha256(forUser!.license_key),
      new_license_key_sha256: sha256(renewal!.license_key),
      hwid_sha256: sha256('PC-2'),
    });
    await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'echo_var', value: 'v', public: true });
    expectBound(await h.app.inject({ method: 'GET', url: '/api/variables/echo_var', query: { app_id: app.app_id, nonce } }), { ...route('GET /api/variables/:name'), name: 'echo_var' });

    for (const [res, request] of answers) {
      expect(res.statusCode, res.body).toBeLessThan(300);
      expect(res.json(), res.body).toMatchObject({ nonce, request });
      expect(Object.keys(res.json().request).sort()).toEqual(Object.keys(request).sort());
      expect(verifySignedByApp(res)).toBe(true);
    }
    // The body never repeats a credential the request carried.
    expect(answers[0]![0].body).not.toContain('PC-1');

    const fileId = await uploadedFile('echoed download');
    const download = await h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1', nonce } });
    expect(download.statusCode).toBe(200);
    expect(verifySignedByApp(download, downloadSignedText(fileId, nonce, String(download.headers['x-content-sha256'])))).toBe(true);
  });

  it('carries the nonce through an encrypted body into the encrypted, signed answer', async () => {
    const [lic] = await s.generate(plan.id);
    const key = bodyKey(app.secret, app.app_id);
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/licenses/check-expiration',
      headers: { 'x-body-encryption': 'aes-256-gcm' },
      payload: { app_id: app.app_id, payload: encryptBody(key, JSON.stringify({ license_key: lic!.license_key, nonce: 'sealed-nonce-1' })) },
    });
    expect(res.statusCode).toBe(200);
    expect(verifySignedByApp(res)).toBe(true);
    expect(JSON.parse(decryptBody(key, res.json().payload)!)).toMatchObject({
      nonce: 'sealed-nonce-1',
      request: { route: 'POST /api/licenses/check-expiration', license_key_sha256: sha256(lic!.license_key) },
    });
  });

  it('binds a refusal to a request that sent a nonce, and keeps the plain error shape for one that did not', async () => {
    const bound = await post(h, '/api/user-auth/login', { app_id: app.app_id, username: 'nobody_here', password: 'whatever 123', hwid: 'PC', nonce: 'refusal-nonce' });
    expect(bound.statusCode).toBe(401);
    expect(bound.json()).toEqual({
      success: false,
      code: 'UNAUTHORIZED',
      message: 'Invalid username or password',
      nonce: 'refusal-nonce',
      request: { route: 'POST /api/user-auth/login', username: 'nobody_here', hwid_sha256: sha256('PC') },
    });
    expect(verifySignedByApp(bound)).toBe(true);
    expectError(await post(h, '/api/user-auth/login', { app_id: app.app_id, username: 'nobody_here', password: 'whatever 123', hwid: 'PC' }), 401, 'UNAUTHORIZED');
  });

  it('refuses a nonce that is too short, too long or not visible ASCII with 400 on every client route', async () => {
    const [lic] = await s.generate(plan.id);
    const fileId = await uploadedFile('nonce rules');
    const send = (nonce: string) => [
      post(h, '/api/licenses/validate', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC', nonce }),
      post(h, '/api/licenses/check-expiration', { app_id: app.app_id, license_key: lic!.license_key, nonce }),
      post(h, '/api/user-auth/create', { app_id: app.app_id, license_key: lic!.license_key, username: 'nonce_user', password: 'nonce password', hwid: 'PC', nonce }),
      post(h, '/api/user-auth/login', { app_id: app.app_id, username: 'nonce_user', password: 'nonce password', hwid: 'PC', nonce }),
      post(h, '/api/user-auth/validate-license', { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC', nonce }),
      post(h, '/api/user-auth/update-license', { app_id: app.app_id, old_license_key: lic!.license_key, new_license_key: 'NEW-KEY', hwid: 'PC', nonce }),
      h.app.inject({ method: 'GET', url: '/api/user-auth/me', query: { nonce }, headers: { authorization: 'Bearer a.b.c' } }),
      h.app.inject({ method: 'GET', url: '/api/variables/anything', query: { app_id: app.app_id, nonce } }),
      h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC', nonce } }),
    ];
    for (const bad of ['short', 'x'.repeat(65), 'has a space', 'new\nline-nonce']) {
      for (const res of await Promise.all(send(bad))) {
        const err = expectError(res, 400, 'VALIDATION_ERROR');
        expect(
          err.details?.map((d) => d.path),
          JSON.stringify(bad),
        ).toEqual([expect.stringMatching(/^(body|querystring)\.nonce$/)]);
      }
    }
    expect((await s.call('GET', `/api/licenses/${lic!.id}`)).json().status).toBe('inactive');
  });
});

const verifySignedByApp = (res: LightMyRequestResponse, signed: string = res.body) => verifySigned(app, res, signed);
