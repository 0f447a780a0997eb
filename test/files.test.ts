import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadSignedText } from '../src/client/answer-binding.js';
import { KeycordApiError, KeycordClient } from '../src/client/index.js';
import { expectError } from './support/expect-error.js';
import { verifySigned } from './support/client-signature.js';
import { startHarness, type AppView, type Harness, type Seller } from './support/harness.js';
import { multipart, type Part } from './support/multipart.js';
import { insertUserWithToken } from './support/user-tokens.js';

/** `big` has the default 100 MB limit; `small` takes at most 1 KiB, to test the limit cheaply. */
let big: Harness;
let small: Harness;
beforeAll(async () => {
  [big, small] = await Promise.all([startHarness(), startHarness({ env: { MAX_FILE_BYTES: '1024' } })]);
});
afterAll(async () => {
  await Promise.all([big?.close(), small?.close()]);
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const filesDir = (h: Harness) => h.deps.files.dir;
/** What is on disk: the stored blobs and whatever is left in tmp. */
function onDisk(h: Harness) {
  const dir = filesDir(h);
  const blobs = existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'tmp') : [];
  const temps = existsSync(join(dir, 'tmp')) ? readdirSync(join(dir, 'tmp')) : [];
  return { blobs, temps };
}

function upload(h: Harness, s: Seller | null, appId: number, parts: Part[], opts: { stream?: boolean; headers?: Record<string, string> } = {}) {
  const body = multipart(parts, { stream: opts.stream ?? false });
  return h.app.inject({
    method: 'POST',
    url: `/api/applications/${appId}/files`,
    payload: body.payload,
    headers: { ...body.headers, ...(s ? { authorization: `Bearer ${s.token}` } : {}), ...opts.headers },
  });
}

async function uploaded(h: Harness, s: Seller, appId: number, data: Buffer, filename = 'app.bin', contentType = 'application/octet-stream') {
  const res = await upload(h, s, appId, [{ name: 'file', filename, contentType, data }]);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: number; name: string; size: number; sha256: string; content_type: string; created_at: string };
}

const download = (h: Harness, fileId: number, query: Record<string, string>, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'GET', url: `/api/files/${fileId}/download`, query, headers });

/** A download is signed over the timestamp, the route, the file id, the nonce and the content's sha256. */
function verifyDownload(publicKeyHex: string, res: LightMyRequestResponse, fileId: number, nonce?: string) {
  return verifySigned(publicKeyHex, res, downloadSignedText(fileId, nonce, String(res.headers['x-content-sha256'])));
}

async function licensedApp(h: Harness, s: Seller) {
  const { app, plan } = await s.setup();
  const [lic] = await s.generate(plan.id);
  return { app, plan, lic: lic!, proof: { app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' } };
}

async function userToken(h: Harness, app: AppView, licenseId: number) {
  return (await insertUserWithToken(h, app, licenseId)).token;
}

describe('files: uploading', () => {
  it('streams a few MB to disk, content-addressed by sha256, and lists it', async () => {
    const s = await big.seller();
    const { app } = await s.setup();
    // 6 MiB sent as a stream of 64 KiB chunks: bigger than the 1 MiB JSON body limit, never one buffer.
    const chunks = Array.from({ length: 96 }, () => randomBytes(64 * 1024));
    const content = Buffer.concat(chunks);
    const res = await upload(big, s, app.id, [{ name: 'file', filename: 'game-setup.exe', contentType: 'application/vnd.microsoft.portable-executable', data: chunks }], { stream: true });
    expect(res.statusCode, res.body).toBe(201);
    const file = res.json();
    expect(file).toEqual({
      id: expect.any(Number),
      application_id: app.id,
      name: 'game-setup.exe',
      size: content.length,
      sha256: sha256(content),
      content_type: 'application/vnd.microsoft.portable-executable',
      created_at: expect.any(String),
    });
    const stored = join(filesDir(big), file.sha256);
    expect(sha256(readFileSync(stored))).toBe(file.sha256);
    expect(readFileSync(stored).equals(content)).toBe(true);
    expect(onDisk(big).temps).toEqual([]);

    const list = await s.call('GET', `/api/applications/${app.id}/files`);
    expect(list.statusCode).toBe(200);
    expect(list.headers['x-total-count']).toBe('1');
    expect(list.headers.link).toContain('rel="first"');
    expect(list.json()).toEqual([file]);
    const audit = (await s.call('GET', `/api/applications/${app.id}/logs?type=audit`)).json();
    expect(audit.find((l: { action: string }) => l.action === 'file.uploaded')).toMatchObject({ target: `file:${file.id}` });
  });

  it('takes the name from a `name` field, or cleans the part’s filename; keeps the content type tidy', async () => {
    const s = await big.seller();
    const { app } = await s.setup();
    const named = await upload(big, s, app.id, [
      { name: 'name', value: 'Release notes v2.txt' },
      { name: 'file', filename: 'tmp123', contentType: 'text/plain; charset=utf-8', data: Buffer.from('notes') },
    ]);
    expect(named.json()).toMatchObject({ name: 'Release notes v2.txt', content_type: 'text/plain', size: 5 });
    expect((await uploaded(big, s, app.id, Buffer.from('x'), '../../etc/passwd')).name).toBe('passwd');
    expect((await uploaded(big, s, app.id, Buffer.from('x'), 'C:\\Users\\me\\tool.zip')).name).toBe('tool.zip');
    expect((await uploaded(big, s, app.id, Buffer.from('x'), 'Überprüfung – 版本.zip')).name).toBe('Überprüfung – 版本.zip');
    expect((await uploaded(big, s, app.id, Buffer.from('x'), 'a.bin', 'not a type')).content_type).toBe('application/octet-stream');
    expect((await uploaded(big, s, app.id, Buffer.alloc(0), 'empty.txt', 'text/plain')).size).toBe(0);
  });

  it('stores identical content once and keeps the bytes while another file still uses them', async () => {
    const s = await big.seller();
    const { app } = await s.setup();
    const { app: otherApp } = await s.setup();
    const content = randomBytes(300_000);
    const a = await uploaded(big, s, app.id, content, 'a.bin');
    const b = await uploaded(big, s, otherApp.id, content, 'b.bin');
    expect(b.sha256).toBe(a.sha256);
    expect(b.id).not.toBe(a.id);
    expect(onDisk(big).blobs.filter((f) => f === a.sha256)).toHaveLength(1);

    expect((await s.call('DELETE', `/api/files/${a.id}`)).json()).toEqual({ message: 'File deleted' });
    expect(existsSync(join(filesDir(big), a.sha256))).toBe(true);
    expect((await s.call('GET', `/api/applications/${app.id}/files`)).json()).toEqual([]);

    expect((await s.call('DELETE', `/api/files/${b.id}`)).statusCode).toBe(200);
    expect(existsSync(join(filesDir(big), a.sha256))).toBe(false);
    expectError(await s.call('DELETE', `/api/files/${b.id}`), 404, 'NOT_FOUND');
    const audit = (await s.call('GET', `/api/applications/${otherApp.id}/logs?type=audit`)).json();
    expect(audit.map((l: { action: string }) => l.action)).toEqual(expect.arrayContaining(['file.uploaded', 'file.deleted']));
  });

  it('never leaves a file without its bytes when uploads and deletes of the same content race', async () => {
    const s = await big.seller();
    const { app } = await s.setup();
    const content = randomBytes(64 * 1024);
    let current = await uploaded(big, s, app.id, content);
    for (let round = 0; round < 15; round++) {
      const [, next] = await Promise.all([s.call('DELETE', `/api/files/${current.id}`), upload(big, s, app.id, [{ name: 'file', filename: `r${round}.bin`, data: content }])]);
      expect(next.statusCode, next.body).toBe(201);
      current = next.json();
      expect(existsSync(join(filesDir(big), current.sha256)), `round ${round}`).toBe(true);
    }
    expect(readFileSync(join(filesDir(big), current.sha256)).equals(content)).toBe(true);
  });

  it('removes the bytes of its files when the application is deleted, unless another application shares them', async () => {
    const s = await big.seller();
    const { app } = await s.setup();
    const { app: keeper } = await s.setup();
    const own = await uploaded(big, s, app.id, randomBytes(4000));
    const shared = randomBytes(4000);
    const sharedHere = await uploaded(big, s, app.id, shared);
    await uploaded(big, s, keeper.id, shared);
    expect((await s.call('DELETE', `/api/applications/${app.id}`)).statusCode).toBe(200);
    expect(existsSync(join(filesDir(big), own.sha256))).toBe(false);
    expect(existsSync(join(filesDir(big), sharedHere.sha256))).toBe(true);
  });

  it('refuses a file over MAX_FILE_BYTES with 413 and keeps nothing: no row, no bytes, no temp file', async () => {
    const s = await small.seller();
    const { app } = await s.setup();
    const before = onDisk(small);
    for (const size of [1025, 3000, 200_000]) {
      const err = expectError(await upload(small, s, app.id, [{ name: 'file', filename: 'big.bin', data: randomBytes(size) }]), 413, 'PAYLOAD_TOO_LARGE');
      expect(err.message).toContain('1024');
    }
    // Streamed, so no Content-Length to go by: the limit is found while counting.
    const streamed = await upload(small, s, app.id, [{ name: 'file', filename: 'big.bin', data: [randomBytes(1000), randomBytes(1000)] }], { stream: true });
    expectError(streamed, 413, 'PAYLOAD_TOO_LARGE');
    expect((await s.call('GET', `/api/applications/${app.id}/files`)).json()).toEqual([]);
    const [rows] = await small.deps.db.query<{ n: number }>('select count(*)::int as n from files where application_id = $1', [app.id]);
    expect(rows!.n).toBe(0);
    expect(onDisk(small)).toEqual({ blobs: before.blobs, temps: [] });
    // Exactly at the limit is fine.
    const atLimit = randomBytes(1024);
    const ok = await uploaded(small, s, app.id, atLimit);
    expect(ok.size).toBe(1024);
    expect(readFileSync(join(filesDir(small), ok.sha256)).equals(atLimit)).toBe(true);
    expect(onDisk(small).temps).toEqual([]);
  });

  it('answers malformed uploads with 4xx, never 500, and leaves no temp file', async () => {
    const s = await big.seller();
    const { app } = await s.setup();
    const url = `/api/applications/${app.id}/files`;
    const auth = { authorization: `Bearer ${s.token}` };
    expectError(await upload(big, s, app.id, [{ name: 'comment', value: 'no file here' }]), 400, 'VALIDATION_ERROR');
    expectError(await s.call('POST', url, { file: 'as json' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await big.app.inject({ method: 'POST', url, payload: 'x', headers: { ...auth, 'content-type': 'multipart/form-data' } }), 400, 'VALIDATION_ERROR');
    expectError(await big.app.inject({ method: 'POST', url, payload: 'x', headers: { ...auth, 'content-type': 'application/zip' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // The body stops in the middle of the file part.
    const whole = multipart([{ name: 'file', filename: 'cut.bin', data: randomBytes(50_000) }]);
    const cut = whole.payload.subarray(0, 30_000);
    const res = await big.app.inject({ method: 'POST', url, payload: cut, headers: { ...auth, ...whole.headers } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expect((await s.call('GET', url)).json()).toEqual([]);
    expect(onDisk(big).temps).toEqual([]);
  });
});

/** A raw upload over a real socket, the file part `size` bytes sent in 1 MiB writes. */
function rawUpload(base: string, agent: http.Agent, path: string, token: string, size: number, opts: { chunked?: boolean } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const head = Buffer.from('--B0UNDARY\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n\r\n');
    const tail = Buffer.from('\r\n--B0UNDARY--\r\n');
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=B0UNDARY' };
    if (!opts.chunked) headers['content-length'] = head.length + size + tail.length;
    const req = http.request(`${base}${path}`, { method: 'POST', agent, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    // The server may answer and close before the whole body is sent: that is the point.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    const chunk = randomBytes(1024 * 1024);
    let sent = 0;
    req.write(head);
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end(tail);
    };
    pump();
  });
}

describe('files: over a real connection', () => {
  it('answers a refused upload without waiting for its body, and the client can carry on', async () => {
    const base = await small.app.listen({ host: '127.0.0.1', port: 0 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const owner = await small.seller('owner');
      const stranger = await small.seller('stranger');
      const { app } = await owner.setup();
      const path = `/api/applications/${app.id}/files`;
      // Refused before the body is read: by Content-Length, by tenancy, by token.
      expect((await rawUpload(base, agent, path, owner.token, 16 * 1024 * 1024)).status).toBe(413);
      expect((await rawUpload(base, agent, path, stranger.token, 16 * 1024 * 1024)).status).toBe(404);
      expect((await rawUpload(base, agent, path, 'kc_sess_nope', 16 * 1024 * 1024)).status).toBe(401);
      // Refused while streaming (no Content-Length): the rest is drained, the connection stays usable.
      expect((await rawUpload(base, agent, path, owner.token, 8 * 1024 * 1024, { chunked: true })).status).toBe(413);
      const ok = await rawUpload(base, agent, path, owner.token, 1000);
      expect(ok.status, ok.body).toBe(201);
      expect(JSON.parse(ok.body).size).toBe(1000);
      expect(onDisk(small).temps).toEqual([]);
    } finally {
      agent.destroy();
    }
  });
});

describe('files: who may touch them', () => {
  it('answers 401 without a token and writes nothing', async () => {
    const s = await small.seller();
    const { app } = await s.setup();
    const before = onDisk(small);
    expectError(await upload(small, null, app.id, [{ name: 'file', filename: 'x.bin', data: Buffer.from('unique-401-content') }]), 401, 'UNAUTHORIZED');
    expect(onDisk(small)).toEqual(before);
  });

  it("hides another tenant's files behind 404: no listing, no upload (nothing written), no delete", async () => {
    const owner = await big.seller('owner');
    const stranger = await big.seller('stranger');
    const { app } = await owner.setup();
    const file = await uploaded(big, owner, app.id, randomBytes(1000));
    const before = onDisk(big);
    expectError(await stranger.call('GET', `/api/applications/${app.id}/files`), 404, 'NOT_FOUND');
    expectError(await upload(big, stranger, app.id, [{ name: 'file', filename: 'planted.bin', data: randomBytes(2000) }]), 404, 'NOT_FOUND');
    expect(onDisk(big)).toEqual(before);
    const del = expectError(await stranger.call('DELETE', `/api/files/${file.id}`), 404, 'NOT_FOUND');
    expect(del).toEqual(expectError(await stranger.call('DELETE', '/api/files/2147483647'), 404, 'NOT_FOUND'));
    expect((await owner.call('GET', `/api/applications/${app.id}/files`)).json()).toHaveLength(1);
    expect(existsSync(join(filesDir(big), file.sha256))).toBe(true);
  });

  it('lets a viewer list but not upload or delete (403)', async () => {
    const owner = await small.seller('owner');
    const viewer = await small.seller('viewer');
    const { app } = await owner.setup();
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: viewer.username, role: 'viewer' })).statusCode).toBe(201);
    const file = await uploaded(small, owner, app.id, randomBytes(100));
    expect((await viewer.call('GET', `/api/applications/${app.id}/files`)).json()).toHaveLength(1);
    expectError(await upload(small, viewer, app.id, [{ name: 'file', filename: 'x.bin', data: randomBytes(10) }]), 403, 'FORBIDDEN');
    expectError(await viewer.call('DELETE', `/api/files/${file.id}`), 403, 'FORBIDDEN');
    expect(onDisk(small).temps).toEqual([]);
  });
});

describe('files: downloading (client)', () => {
  it('streams identical bytes with the headers after a license and HWID validate, signed over the file id, the nonce and the sha256', async () => {
    const s = await big.seller();
    const { app, lic, proof } = await licensedApp(big, s);
    const content = randomBytes(2 * 1024 * 1024 + 17);
    // A quote cannot travel in a multipart filename parameter; the `name` field carries it.
    const up = await upload(big, s, app.id, [
      { name: 'name', value: 'Tool "v2" – final.zip' },
      { name: 'file', filename: 'tool.zip', contentType: 'application/zip', data: content },
    ]);
    const file = up.json();
    const res = await download(big, file.id, { ...proof, nonce: 'download-nonce-1' });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    expect(res.rawPayload.equals(content)).toBe(true);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-length']).toBe(String(content.length));
    expect(res.headers['content-disposition']).toBe(`attachment; filename="Tool _v2_ _ final.zip"; filename*=UTF-8''Tool%20%22v2%22%20%E2%80%93%20final.zip`);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-content-sha256']).toBe(sha256(content));
    expect(res.headers['x-signature-timestamp']).toMatch(/^\d+$/);
    expect(verifyDownload(app.public_key, res, file.id, 'download-nonce-1')).toBe(true);
    // The signature is bound to the content hash, the file and the nonce: change one and it does not verify.
    expect(verifyDownload(app.public_key, { ...res, headers: { ...res.headers, 'x-content-sha256': sha256(Buffer.from('evil')) } } as LightMyRequestResponse, file.id, 'download-nonce-1')).toBe(false);
    expect(verifyDownload(app.public_key, res, file.id + 1, 'download-nonce-1')).toBe(false);
    expect(verifyDownload(app.public_key, res, file.id, 'download-nonce-2')).toBe(false);
    expect(verifyDownload(app.public_key, res, file.id)).toBe(false);
    // It validated exactly as /validate does: the key is now active on PC-1.
    expect((await s.call('GET', `/api/licenses/${lic.id}`)).json()).toMatchObject({ status: 'active', hwid: 'PC-1' });
  });

  it('streams for a valid user token too', async () => {
    const s = await big.seller();
    const { app, lic } = await licensedApp(big, s);
    const content = randomBytes(5000);
    const file = await uploaded(big, s, app.id, content);
    const token = await userToken(big, app, lic.id);
    const res = await download(big, file.id, { app_id: app.app_id }, { authorization: `Bearer ${token}` });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    expect(res.rawPayload.equals(content)).toBe(true);
    expect(verifyDownload(app.public_key, res, file.id)).toBe(true);
  });

  it('refuses without proof, with a banned license or a foreign token: 403, signed, no bytes', async () => {
    const s = await big.seller();
    const { app, lic, proof } = await licensedApp(big, s);
    const { app: otherApp, lic: otherLic } = await licensedApp(big, s);
    const secret = Buffer.from('top secret build contents');
    const file = await uploaded(big, s, app.id, secret);
    const none = await download(big, file.id, { app_id: app.app_id });
    expect(expectError(none, 403, 'FORBIDDEN').message).toContain('UNAUTHORIZED');
    expect(verifySigned(app.public_key, none)).toBe(true);
    expect(none.body).not.toContain('top secret');
    expect(expectError(await download(big, file.id, { app_id: app.app_id, license_key: lic.license_key }), 403, 'FORBIDDEN').message).toContain('HWID_REQUIRED');
    expect(expectError(await download(big, file.id, { ...proof, license_key: otherLic.license_key }), 403, 'FORBIDDEN').message).toContain('NOT_FOUND');
    const foreignToken = await userToken(big, otherApp, otherLic.id);
    expectError(await download(big, file.id, { app_id: app.app_id }, { authorization: `Bearer ${foreignToken}` }), 403, 'FORBIDDEN');
    expectError(await download(big, file.id, { app_id: app.app_id }, { authorization: `Bearer ${s.token}` }), 403, 'FORBIDDEN');

    expect((await download(big, file.id, proof)).statusCode).toBe(200);
    await s.call('POST', `/api/licenses/${lic.id}/ban`, {});
    const banned = await download(big, file.id, proof);
    expect(expectError(banned, 403, 'FORBIDDEN').message).toContain('BANNED');
    expect(banned.body).not.toContain('top secret');
  });

  it("answers 404 for another application's file, an unknown file or app_id, and after a delete", async () => {
    const s = await big.seller();
    const { app, proof } = await licensedApp(big, s);
    const { app: otherApp, proof: otherProof } = await licensedApp(big, s);
    const theirs = await uploaded(big, s, otherApp.id, randomBytes(100));
    // A proof for app A does not reach app B's file through A's app_id …
    expectError(await download(big, theirs.id, proof), 404, 'NOT_FOUND');
    // … nor through B's app_id (A's license does not validate there).
    expectError(await download(big, theirs.id, { ...otherProof, license_key: proof.license_key }), 403, 'FORBIDDEN');
    expect((await download(big, theirs.id, otherProof)).statusCode).toBe(200);
    expectError(await download(big, 2147483647, proof), 404, 'NOT_FOUND');
    // Without proof an unknown id is answered as a known one is: the app_id alone does not tell which ids exist.
    const unknownUnproven = expectError(await download(big, 2147483647, { app_id: app.app_id }), 403, 'FORBIDDEN');
    const theirsUnproven = expectError(await download(big, theirs.id, { app_id: otherApp.app_id }), 403, 'FORBIDDEN');
    expect(unknownUnproven.message).toBe(theirsUnproven.message);
    expectError(await download(big, theirs.id, { ...otherProof, app_id: '00000000-0000-4000-8000-000000000000' }), 404, 'NOT_FOUND');
    expectError(await download(big, theirs.id, { ...otherProof, app_id: 'nope' }), 400, 'VALIDATION_ERROR');

    const mine = await uploaded(big, s, app.id, randomBytes(100));
    expect((await download(big, mine.id, proof)).statusCode).toBe(200);
    await s.call('DELETE', `/api/files/${mine.id}`);
    expectError(await download(big, mine.id, proof), 404, 'NOT_FOUND');
    expect(existsSync(join(filesDir(big), mine.sha256))).toBe(false);
  });
});

describe('files and variables through the client SDK', () => {
  it('downloads a file and reads a private variable, verifying signatures and the content hash', async () => {
    const base = await big.app.listen({ host: '127.0.0.1', port: 0 });
    const s = await big.seller();
    const { app, lic } = await licensedApp(big, s);
    const content = randomBytes(1024 * 1024 + 3);
    const file = await uploaded(big, s, app.id, content, 'plugin.dll');
    expect((await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'api_key', value: 'sk_live_42' })).statusCode).toBe(201);
    const keycord = new KeycordClient({ baseUrl: base, appId: app.app_id, publicKey: app.public_key });
    const proof = { licenseKey: lic.license_key, hwid: 'PC-1' };

    const got = await keycord.downloadFile(file.id, proof);
    expect(got.name).toBe('plugin.dll');
    expect(got.data.equals(content)).toBe(true);
    expect(await keycord.getVariable('api_key', proof)).toEqual({ name: 'api_key', value: 'sk_live_42' });
    // A refusal is a signed answer too, so the SDK reports it as an API error, not a forgery.
    const refused = await keycord.downloadFile(file.id, { licenseKey: lic.license_key, hwid: 'PC-2' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KeycordApiError);
    expect(refused).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    const missing = await keycord.getVariable('nope', proof).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });
});
