import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycordApiError, KeycordClient, KeycordVerificationError } from '../src/client/index.js';
import { bodyKey, decryptBody, encryptBody } from '../src/core/body-encryption.js';
import { client as post, startHarness, type Harness, type Seller } from './support/harness.js';

let h: Harness;
let base: string;
let s: Seller;
let app: { id: number; app_id: string; secret: string; public_key: string };
let plan: { id: number };

beforeAll(async () => {
  h = await startHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  s = await h.seller();
  ({ app, plan } = await s.setup());
});
afterAll(() => h?.close());

const sdk = (extra: Partial<ConstructorParameters<typeof KeycordClient>[0]> = {}) => new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key, ...extra });

/** A man in the middle on 127.0.0.1 that can rewrite or replay Keycord's answers. */
async function proxy(rewrite: (body: Buffer, headers: Record<string, string>) => { body: Buffer; headers: Record<string, string> }) {
  const target = new URL(base);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        const out: Buffer[] = [];
        r.on('data', (c) => out.push(c));
        r.on('end', () => {
          const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
          delete headers['content-length'];
          const changed = rewrite(Buffer.concat(out), headers);
          res.writeHead(r.statusCode ?? 500, changed.headers);
          res.end(changed.body);
        });
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('the client SDK against the real server', () => {
  it('validates a key, checks expiration, and registers, logs in and reads the user', async () => {
    const [lic] = await s.generate(plan.id);
    const c = sdk();
    expect(await c.validate({ licenseKey: lic!.license_key, hwid: 'HW1' })).toMatchObject({ success: true, code: 'VALID' });
    expect(await c.validate({ licenseKey: lic!.license_key, hwid: 'HW2' })).toMatchObject({ success: false, code: 'HWID_MISMATCH' });
    expect(await c.checkExpiration({ licenseKey: lic!.license_key })).toMatchObject({ success: true, status: 'active', expired: false });
    const [lic2] = await s.generate(plan.id);
    const session = await c.register({ licenseKey: lic2!.license_key, username: 'sdkuser', password: 'sdk password 1', hwid: 'HW9' });
    expect(session.user.username).toBe('sdkuser');
    const login = await c.login({ username: 'sdkuser', password: 'sdk password 1', hwid: 'HW9' });
    expect((await c.me(login.token)).user.username).toBe('sdkuser');
    await expect(c.login({ username: 'sdkuser', password: 'wrong password', hwid: 'HW9' })).rejects.toBeInstanceOf(KeycordApiError);
  });

  it('encrypts requests and reads encrypted answers when given the secret', async () => {
    const [lic] = await s.generate(plan.id);
    const c = sdk({ secret: app.secret, encrypt: true });
    expect(await c.validate({ licenseKey: lic!.license_key, hwid: 'ENC' })).toMatchObject({ success: true, code: 'VALID' });
  });

  it('rejects a tampered answer, a wrong public key, a replayed answer and a skewed clock', async () => {
    const [lic] = await s.generate(plan.id);
    await sdk().validate({ licenseKey: lic!.license_key, hwid: 'HW' });
    const tamper = await proxy((body, headers) => ({ body: Buffer.from(body.toString().replace('HWID_MISMATCH', 'VALID').replace('"success":false', '"success":true')), headers }));
    try {
      await expect(sdk({ baseUrl: tamper.url }).validate({ licenseKey: lic!.license_key, hwid: 'OTHER' })).rejects.toThrow(KeycordVerificationError);
    } finally {
      await tamper.close();
    }
    const other = await h.seller('other');
    const { app: otherApp } = await other.setup();
    await expect(sdk({ publicKey: otherApp.public_key }).validate({ licenseKey: lic!.license_key, hwid: 'HW' })).rejects.toThrow(/signature/);

    let captured: { body: Buffer; headers: Record<string, string> } | null = null;
    const replay = await proxy((body, headers) => {
      if (!captured) captured = { body, headers };
      return captured;
    });
    try {
      await sdk({ baseUrl: replay.url }).validate({ licenseKey: lic!.license_key, hwid: 'HW' });
      await expect(sdk({ baseUrl: replay.url }).validate({ licenseKey: lic!.license_key, hwid: 'HW' })).rejects.toThrow(/nonce/);
    } finally {
      await replay.close();
    }
    await expect(sdk({ now: () => Date.now() + 10 * 60_000 }).validate({ licenseKey: lic!.license_key, hwid: 'HW' })).rejects.toThrow(/timestamp/);
    await expect(sdk({ now: () => Date.now() + 60_000 }).validate({ licenseKey: lic!.license_key, hwid: 'HW' })).resolves.toMatchObject({ code: 'VALID' });
  });
});

describe('private variables and files through the SDK', () => {
  it('reads variables and downloads a file with a license or a user token, verifying the bytes', async () => {
    const { multipart } = await import('./support/multipart.js');
    const [lic, forUser] = await s.generate(plan.id, 2);
    await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'motd', value: 'hello', public: true });
    await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'api_key', value: 's3cret', public: false });
    const data = Buffer.from('binary payload '.repeat(1000));
    const form = multipart([
      { name: 'name', value: 'Überlader v2.bin' },
      { name: 'file', filename: 'x.bin', data },
    ]);
    const up = await s.call('POST', `/api/applications/${app.id}/files`, form.payload as never, form.headers);
    expect(up.statusCode).toBe(201);
    const fileId = up.json().id as number;

    for (const c of [sdk(), sdk({ secret: app.secret, encrypt: true })]) {
      expect(await c.getVariable('motd')).toEqual({ name: 'motd', value: 'hello' });
      await expect(c.getVariable('api_key')).rejects.toMatchObject({ status: 403 });
      expect((await c.getVariable('api_key', { licenseKey: lic!.license_key, hwid: 'FILES' })).value).toBe('s3cret');
      const file = await c.downloadFile(fileId, { licenseKey: lic!.license_key, hwid: 'FILES' });
      expect(file.data.equals(data)).toBe(true);
      expect(file.name).toBe('Überlader v2.bin');
      await expect(c.downloadFile(fileId, { licenseKey: lic!.license_key, hwid: 'OTHER-PC' })).rejects.toMatchObject({ status: 403 });
    }
    const session = await sdk().register({ licenseKey: forUser!.license_key, username: 'fileuser', password: 'file password 1', hwid: 'U1' });
    expect((await sdk().getVariable('api_key', { token: session.token })).value).toBe('s3cret');
    expect((await sdk().downloadFile(fileId, { token: session.token })).data.length).toBe(data.length);

    const tamper = await proxy((body, headers) => ({ body: Buffer.concat([body.subarray(0, 10), Buffer.from('X'), body.subarray(11)]), headers }));
    try {
      await expect(sdk({ baseUrl: tamper.url }).downloadFile(fileId, { licenseKey: lic!.license_key, hwid: 'FILES' })).rejects.toThrow(/SHA-256/);
    } finally {
      await tamper.close();
    }
  });

  it('works for an application that requires encryption', async () => {
    const { app: strict, plan: strictPlan } = await s.setup({ settings: { require_encryption: true } });
    const [lic] = await s.generate(strictPlan.id);
    await s.call('POST', `/api/applications/${strict.id}/variables`, { name: 'flag', value: 'on', public: false });
    const urls: string[] = [];
    const recording: typeof fetch = (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    };
    const c = new KeycordClient({ baseUrl: base, appId: strict.app_id, publicKey: strict.public_key, secret: strict.secret, encrypt: true, fetch: recording });
    expect((await c.getVariable('flag', { licenseKey: lic!.license_key, hwid: 'S' })).value).toBe('on');
    // GETs carry their parameters sealed too: the key and HWID are in no URL.
    expect(urls).toHaveLength(1);
    expect(urls[0]).toContain('payload=');
    expect(urls[0]).not.toContain(lic!.license_key);
    expect(urls[0]).not.toMatch(/hwid=/);
  });
});

describe('the encrypted body convention on the server', () => {
  it('decrypts, answers encrypted and signs the encrypted bytes', async () => {
    const [lic] = await s.generate(plan.id);
    const key = bodyKey(app.secret, app.app_id);
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/licenses/validate',
      headers: { 'x-body-encryption': 'aes-256-gcm' },
      payload: { app_id: app.app_id, payload: encryptBody(key, JSON.stringify({ license_key: lic!.license_key, hwid: 'X', nonce: 'abcdefgh' })) },
    });
    expect(res.statusCode).toBe(200);
    const envelope = res.json();
    expect(envelope.app_id).toBe(app.app_id);
    expect(JSON.parse(decryptBody(key, envelope.payload)!)).toMatchObject({ success: true, code: 'VALID', nonce: 'abcdefgh' });
    expect(res.headers['x-signature-ed25519']).toBeDefined();
  });

  it('answers DECRYPTION_FAILED in plain signed JSON for a wrong key or tampered payload', async () => {
    const wrong = bodyKey('not-the-secret', app.app_id);
    const bad = await post(h, '/api/licenses/validate', { app_id: app.app_id, payload: encryptBody(wrong, '{"license_key":"X"}') });
    expect(bad.statusCode).toBe(400); // plain request with an envelope body is simply invalid input
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/licenses/validate',
      headers: { 'x-body-encryption': 'aes-256-gcm' },
      payload: { app_id: app.app_id, payload: encryptBody(wrong, '{"license_key":"X"}') },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: 'DECRYPTION_FAILED' });
    expect(res.headers['x-signature-ed25519']).toMatch(/^[0-9a-f]{128}$/);
    const good = encryptBody(bodyKey(app.secret, app.app_id), '{"license_key":"X"}');
    const flipped = Buffer.from(good, 'base64');
    flipped[20] = flipped[20]! ^ 1;
    const tampered = await h.app.inject({
      method: 'POST',
      url: '/api/licenses/validate',
      headers: { 'x-body-encryption': 'aes-256-gcm' },
      payload: { app_id: app.app_id, payload: flipped.toString('base64') },
    });
    expect(tampered.json().code).toBe('DECRYPTION_FAILED');
  });

  it('refuses plain requests when the application requires encryption', async () => {
    const { app: strict, plan: strictPlan } = await s.setup({ settings: { require_encryption: true } });
    const [lic] = await s.generate(strictPlan.id);
    const plain = await post(h, '/api/licenses/validate', { app_id: strict.app_id, license_key: lic!.license_key, hwid: 'X' });
    expect(plain.statusCode).toBe(400);
    expect(plain.json().code).toBe('ENCRYPTION_REQUIRED');
    const c = new KeycordClient({ baseUrl: base, appId: strict.app_id, publicKey: strict.public_key, secret: strict.secret, encrypt: true });
    expect((await c.validate({ licenseKey: lic!.license_key, hwid: 'X' })).code).toBe('VALID');
  });

  it("takes the guard's refusals, which name the request as the route's answers do, for the refusals they are", async () => {
    // A refusal made before the route ran echoes the nonce and the request: an SDK that checks both
    // (this one, and every one shipped) throws the API error, never a verification error.
    const { app: limited, plan: limitedPlan } = await s.setup({ settings: { rate_limit_per_minute: 1 } });
    const [lic] = await s.generate(limitedPlan.id);
    const c = new KeycordClient({ baseUrl: base, appId: limited.app_id, publicKey: limited.public_key });
    expect((await c.validate({ licenseKey: lic!.license_key, hwid: 'X' })).code).toBe('VALID');
    await expect(c.validate({ licenseKey: lic!.license_key, hwid: 'X' })).rejects.toMatchObject({ name: KeycordApiError.name, status: 429, code: 'RATE_LIMITED' });
    await expect(c.getVariable('anything')).rejects.toMatchObject({ name: KeycordApiError.name, status: 429, code: 'RATE_LIMITED' });
    const { app: strict } = await s.setup({ settings: { require_encryption: true } });
    const plain = new KeycordClient({ baseUrl: base, appId: strict.app_id, publicKey: strict.public_key });
    const refused = await plain.checkExpiration({ licenseKey: 'ANY-KEY' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(KeycordApiError);
    expect(refused).not.toBeInstanceOf(KeycordVerificationError);
    expect(refused).toMatchObject({ status: 400, code: 'ENCRYPTION_REQUIRED' });
  });

  it('covers GET routes too: the license key and HWID never travel in a clear query string', async () => {
    const { app: strict, plan: strictPlan } = await s.setup({ settings: { require_encryption: true } });
    const [lic] = await s.generate(strictPlan.id);
    await s.call('POST', `/api/applications/${strict.id}/variables`, { name: 'flag', value: 'on', public: false });
    const clear = new URLSearchParams({ app_id: strict.app_id, license_key: lic!.license_key, hwid: 'G' });
    const plain = await h.app.inject({ method: 'GET', url: `/api/variables/flag?${clear}` });
    expect(plain.statusCode).toBe(400);
    expect(plain.json()).toMatchObject({ success: false, code: 'ENCRYPTION_REQUIRED' });
    // Asking for an encrypted answer is not enough while the key sits in the URL.
    const answerOnly = await h.app.inject({ method: 'GET', url: `/api/variables/flag?${clear}`, headers: { 'x-body-encryption': 'aes-256-gcm' } });
    expect(answerOnly.statusCode).toBe(400);
    const key = bodyKey(strict.secret, strict.app_id);
    const sealed = new URLSearchParams({ app_id: strict.app_id, payload: encryptBody(key, JSON.stringify({ license_key: lic!.license_key, hwid: 'G', nonce: 'get-nonce-1' })) });
    const ok = await h.app.inject({ method: 'GET', url: `/api/variables/flag?${sealed}`, headers: { 'x-body-encryption': 'aes-256-gcm' } });
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(decryptBody(key, ok.json().payload)!)).toMatchObject({ name: 'flag', value: 'on', nonce: 'get-nonce-1' });
    const wrong = new URLSearchParams({ app_id: strict.app_id, payload: encryptBody(bodyKey('not-the-secret', strict.app_id), '{}') });
    const refused = await h.app.inject({ method: 'GET', url: `/api/variables/flag?${wrong}`, headers: { 'x-body-encryption': 'aes-256-gcm' } });
    expect(refused.json()).toMatchObject({ success: false, code: 'DECRYPTION_FAILED' });
  });
});

describe('examples/validate.ts', () => {
  it('runs as a customer app would and reports the license', async () => {
    const { execFile } = await import('node:child_process');
    const [lic] = await s.generate(plan.id);
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'examples/validate.ts'],
          { env: { ...process.env, KEYCORD_URL: base, APP_ID: app.app_id, PUBLIC_KEY: app.public_key, ...env } },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    const ok = await run({ LICENSE_KEY: lic!.license_key });
    expect(ok.out).toContain('Licensed (Monthly)');
    expect(ok.code).toBe(0);
    const bad = await run({ LICENSE_KEY: 'NOT-A-KEY' });
    expect(bad.out).toContain('NOT_FOUND');
    expect(bad.code).toBe(1);
  }, 30_000);
});
