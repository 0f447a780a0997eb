import { createHash, createHmac, createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answersRequest, requestIdentity } from '../src/client/answer-binding.js';
import { KeycordApiError, KeycordClient, KeycordVerificationError } from '../src/client/index.js';
import { multipart } from './support/multipart.js';
import { startHarness, type AppView, type Harness, type PlanView, type Seller } from './support/harness.js';
import { rewriting } from './support/man-in-the-middle.js';

/*
 * An answer is the answer to one request: everything that decided it is named in what is signed,
 * and the SDK holds the answer to all of it. A man in the middle that keeps the app's nonce but
 * changes what it forwards (adds a HWID, swaps in a license or user token that validates, swaps the
 * password of a new account) gets a real, signed answer that the SDK refuses as another request's.
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
  await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'private_cfg', value: 'the private value', public: false });
});
afterAll(() => h?.close());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sdk = (extra: Partial<ConstructorParameters<typeof KeycordClient>[0]> = {}) => new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key, secret: app.secret, ...extra });

const withQuery = (params: Record<string, string>) => rewriting((r) => Object.entries(params).forEach(([k, v]) => r.url.searchParams.set(k, v)));

async function uploadedFile(content: string) {
  const form = multipart([{ name: 'file', filename: 'build.bin', data: Buffer.from(content) }]);
  const res = await s.call('POST', `/api/applications/${app.id}/files`, form.payload as never, form.headers);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as number;
}

/** A license activated on `hwid`, and a user registered with another license. */
async function attacker(hwid: string, username: string) {
  const [lic, forUser] = await s.generate(plan.id, 2);
  expect(await sdk().validate({ licenseKey: lic!.license_key, hwid })).toMatchObject({ code: 'VALID' });
  const session = await sdk().register({ licenseKey: forUser!.license_key, username, password: 'attacker password 1', hwid });
  return { licenseKey: lic!.license_key, hwid, token: session.token };
}

describe('every known field of the request is held, absent ones too', () => {
  it('validate() without a HWID refuses a VALID answer to the same request with a HWID added', async () => {
    const [lic] = await s.generate(plan.id);
    expect(await sdk().validate({ licenseKey: lic!.license_key, hwid: 'OWNER-MACHINE' })).toMatchObject({ code: 'VALID' });
    // Its own answer, without the HWID, is taken.
    expect(await sdk().validate({ licenseKey: lic!.license_key })).toMatchObject({ success: false, code: 'HWID_REQUIRED' });
    const added = sdk({ fetch: rewriting((r) => Object.assign(r.body!, { hwid: 'OWNER-MACHINE' })) });
    const err = await added.validate({ licenseKey: lic!.license_key }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeycordVerificationError);
    expect(String(err)).toMatch(/not for this request/);
  });

  it('answersRequest: a known field present on one side only fails; a field it does not know is ignored', () => {
    const expected = requestIdentity('POST /api/licenses/validate', { license_key: 'K' });
    expect(answersRequest({ ...expected }, expected)).toBe(true);
    expect(answersRequest({ ...expected, hwid_sha256: sha256('H') }, expected)).toBe(false);
    expect(answersRequest({ ...expected, user_token_sha256: sha256('T') }, expected)).toBe(false);
    expect(answersRequest({ ...expected, name: 'x' }, expected)).toBe(false);
    expect(answersRequest({ ...expected, added_by_a_newer_server: 'x' }, expected)).toBe(true);
    expect(answersRequest({ route: expected.route }, expected)).toBe(false);
    expect(answersRequest([expected], expected)).toBe(false);
  });
});

describe('a private variable or file answers the proof it was asked with', () => {
  it('the server names the proof in the answer, and signs a download over it', async () => {
    const [lic] = await s.generate(plan.id);
    const nonce = 'proof-nonce-0001';
    const variable = await h.app.inject({ method: 'GET', url: '/api/variables/private_cfg', query: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1', nonce } });
    expect(variable.statusCode, variable.body).toBe(200);
    expect(variable.json().request).toEqual({ route: 'GET /api/variables/:name', name: 'private_cfg', license_key_sha256: sha256(lic!.license_key), hwid_sha256: sha256('PC-1') });
    // The body never repeats a credential.
    expect(variable.body).not.toContain(lic!.license_key);

    const fileId = await uploadedFile('bound build');
    const download = await h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1', nonce } });
    expect(download.statusCode).toBe(200);
    const answered = String(download.headers['x-answer-request']);
    expect(JSON.parse(answered)).toEqual({ route: 'GET /api/files/:id/download', file_id: fileId, license_key_sha256: sha256(lic!.license_key), hwid_sha256: sha256('PC-1') });
    expect(download.headers['x-content-size']).toBe(String('bound build'.length));
    const text = `\nGET /api/files/:id/download\n${fileId}\n${nonce}\n${sha256('bound build')}\n${'bound build'.length}\n${answered}`;
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(app.public_key, 'hex')]), format: 'der', type: 'spki' });
    const message = Buffer.from(String(download.headers['x-signature-timestamp']) + text);
    expect(verify(null, message, key, Buffer.from(String(download.headers['x-signature-ed25519-request']), 'hex'))).toBe(true);
  });

  it.each([
    { mode: 'plain', options: {} },
    { mode: 'encrypted', options: { encrypt: true } },
  ])('the SDK reads variables and files with a license or a user token ($mode)', async ({ options }) => {
    const [lic, forUser] = await s.generate(plan.id, 2);
    const fileId = await uploadedFile('licensed bytes');
    const c = sdk(options);
    const byLicense = { licenseKey: ` ${lic!.license_key} `, hwid: 'MY-PC' };
    expect(await c.getVariable('private_cfg', byLicense)).toEqual({ name: 'private_cfg', value: 'the private value' });
    expect((await c.downloadFile(fileId, byLicense)).data.toString()).toBe('licensed bytes');
    const { token } = await c.register({ licenseKey: forUser!.license_key, username: `reader_${Object.keys(options).length}`, password: 'reader password 1', hwid: 'MY-PC' });
    expect((await c.getVariable('private_cfg', { token })).value).toBe('the private value');
    expect((await c.downloadFile(fileId, { token })).data.toString()).toBe('licensed bytes');
    // A token read back from a file, with its newline: fetch and the server trim it, and so does the SDK.
    expect((await c.getVariable('private_cfg', { token: `${token}\n` })).value).toBe('the private value');
    expect((await c.downloadFile(fileId, { token: ` ${token}\n` })).data.toString()).toBe('licensed bytes');
    expect((await c.me(`${token}\n`)).user).toMatchObject({ username: `reader_${Object.keys(options).length}` });
    // A refusal of the proof sent is the refusal it is.
    await expect(c.getVariable('private_cfg', { licenseKey: 'NOT-A-REAL-KEY', hwid: 'MY-PC' })).rejects.toMatchObject({ name: KeycordApiError.name, status: 403 });
    await expect(c.downloadFile(fileId, { licenseKey: 'NOT-A-REAL-KEY', hwid: 'MY-PC' })).rejects.toMatchObject({ name: KeycordApiError.name, status: 403 });
  });

  it("getVariable() refuses the answer given to another license's or another user's proof", async () => {
    const other = await attacker('ATTACKER-HW1', 'var_attacker');
    const mine = { licenseKey: 'NOT-A-REAL-KEY', hwid: 'VICTIM-HW' };
    await expect(sdk().getVariable('private_cfg', mine)).rejects.toBeInstanceOf(KeycordApiError);
    const swapped = sdk({ fetch: withQuery({ license_key: other.licenseKey, hwid: other.hwid }) });
    await expect(swapped.getVariable('private_cfg', mine)).rejects.toThrow(/not for this request/);
    // A user token swapped for another user's that is valid.
    const tokenSwapped = sdk({ fetch: rewriting((r) => (r.headers.authorization = `Bearer ${other.token}`)) });
    await expect(tokenSwapped.getVariable('private_cfg', { token: 'expired.or.forged' })).rejects.toThrow(/not for this request/);
    // A license proof with a valid user token slipped in beside it.
    const tokenAdded = sdk({ fetch: rewriting((r) => (r.headers.authorization = `Bearer ${other.token}`)) });
    await expect(tokenAdded.getVariable('private_cfg', mine)).rejects.toThrow(KeycordVerificationError);
  });

  it("downloadFile() refuses the download made with another license's or another user's proof", async () => {
    const fileId = await uploadedFile('licensed build');
    const other = await attacker('ATTACKER-HW2', 'file_attacker');
    const mine = { licenseKey: 'NOT-A-REAL-KEY', hwid: 'VICTIM-HW' };
    await expect(sdk().downloadFile(fileId, mine)).rejects.toBeInstanceOf(KeycordApiError);
    const swapped = sdk({ fetch: withQuery({ license_key: other.licenseKey, hwid: other.hwid }) });
    await expect(swapped.downloadFile(fileId, mine)).rejects.toThrow(/not for this request/);
    const tokenSwapped = sdk({ fetch: rewriting((r) => (r.headers.authorization = `Bearer ${other.token}`)) });
    await expect(tokenSwapped.downloadFile(fileId, { token: 'expired.or.forged' })).rejects.toThrow(/not for this request/);
  });
});

describe('a new account answers the password it was made with', () => {
  it('the server names the password digest beside the request of a created account', async () => {
    const [lic] = await s.generate(plan.id);
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/user-auth/create',
      payload: { app_id: app.app_id, license_key: lic!.license_key, username: 'digest_user', password: 'digest password 1', hwid: 'D', nonce: 'create-nonce-01' },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      password_hmac: createHmac('sha256', 'digest_user').update('digest password 1').digest('hex'),
      nonce: 'create-nonce-01',
      request: { route: 'POST /api/user-auth/create', username: 'digest_user' },
    });
    expect(res.body).not.toContain('digest password 1');
  });

  it('register() refuses the session of a request whose password was swapped on the way', async () => {
    const [lic] = await s.generate(plan.id);
    const swapped = sdk({ fetch: rewriting((r) => Object.assign(r.body!, { password: 'attacker chosen pw' })) });
    const err = await swapped.register({ licenseKey: lic!.license_key, username: 'victim_user', password: 'victim password 1', hwid: 'VHW' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeycordVerificationError);
    expect(String(err)).toMatch(/another password/);
    // The SDK's own register returns the session without the digest.
    const [lic2] = await s.generate(plan.id);
    const session = await sdk().register({ licenseKey: lic2!.license_key, username: 'honest_user', password: 'honest password 1', hwid: 'HHW' });
    expect(Object.keys(session).sort()).toEqual(['message', 'token', 'user']);
  });
});
