import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOWNLOAD_ROUTE, requestIdentity } from '../src/client/answer-binding.js';
import * as sdkModule from '../src/client/index.js';
import { KeycordClient, KeycordVerificationError, lease } from '../src/client/index.js';
import { heldLease as signedLease } from './support/held-lease.js';

/*
 * The SDK against a server on 127.0.0.1 that is broken or hostile: one that never answers, one that
 * trickles an endless body, one that sends far more than any answer can be. Every call settles
 * within its `timeoutMs`, refuses an unsigned answer from its headers alone, and never reads more
 * than an answer (or a signed file) can be. An OfflineLease takes a timeout for what it is: Keycord
 * unreachable, so the lease it holds decides.
 */
const { publicKey: pub, privateKey } = generateKeyPairSync('ed25519');
const publicKeyHex = Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
const appId = randomUUID();
const now = () => String(Math.floor(Date.now() / 1000));
/** What the second download signature covers (answer-binding.ts, `downloadRequestSignedText`), spelled out here. */
const downloadText = (fileId: number, nonce: string, sha: string, size: number, answered: string) => `\nGET /api/files/:id/download\n${fileId}\n${nonce}\n${sha}\n${size}\n${answered}`;
/** The SDK's timeout error: read by name, so this file runs against an SDK that has none (and fails there, as it should). */
const timedOut = { name: 'KeycordTimeoutError' };
const signed = (timestamp: string, text: string | Buffer) => sign(null, Buffer.concat([Buffer.from(timestamp), Buffer.from(text)]), privateKey).toString('hex');

let server: Server;
let base: string;
const open: ServerResponse[] = [];
const timers: NodeJS.Timeout[] = [];
/** Bytes the server wrote per route, to see how much the SDK took. */
const written: Record<string, number> = {};

/** Writes `total` bytes of spaces as fast as the client takes them. */
function flood(res: ServerResponse, route: string, total: number) {
  const chunk = Buffer.alloc(1 << 16, 0x20);
  written[route] = 0;
  const pump = () => {
    while (written[route]! < total) {
      written[route]! += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('error', () => {});
  pump();
}

/** One byte every 50 ms, for ever. */
function trickle(res: ServerResponse) {
  timers.push(setInterval(() => res.write(' '), 50));
  open.push(res);
}

function handle(req: IncomingMessage, res: ServerResponse) {
  req.resume();
  const url = new URL(req.url ?? '/', 'http://x');
  const route = url.pathname.split('/')[1] ?? '';
  const signature = { 'x-signature-timestamp': now(), 'x-signature-ed25519': 'ab'.repeat(64) };
  switch (route) {
    case 'hang':
      open.push(res);
      return;
    case 'trickle-unsigned':
      res.writeHead(200, { 'content-type': 'application/json' });
      return trickle(res);
    case 'trickle-signed':
      // Signature headers that look right: the SDK must read the body to check them, and the
      // body never ends. Only the deadline can end the call.
      res.writeHead(200, { 'content-type': 'application/json', ...signature });
      return trickle(res);
    case 'huge':
      res.writeHead(200, { 'content-type': 'application/json', ...signature });
      return flood(res, route, 64 * (1 << 20));
    case 'declared-huge':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * (1 << 20)), ...signature });
      return flood(res, route, 64 * (1 << 20));
    case 'oversized-file': {
      // A download whose headers are properly signed for 5 bytes, followed by megabytes.
      const nonce = url.searchParams.get('nonce') ?? '';
      const fileId = Number(url.pathname.split('/')[4]);
      const sha = createHash('sha256').update('12345').digest('hex');
      const answered = JSON.stringify(requestIdentity(DOWNLOAD_ROUTE, { file_id: fileId, license_key: 'K', hwid: 'H' }));
      const timestamp = now();
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-content-sha256': sha,
        'x-content-size': '5',
        'x-answer-request': answered,
        'x-signature-timestamp': timestamp,
        'x-signature-ed25519-request': signed(timestamp, downloadText(fileId, nonce, sha, 5, answered)),
      });
      return flood(res, route, 64 * (1 << 20));
    }
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const r of open) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const sdk = (prefix: string, extra: Partial<ConstructorParameters<typeof KeycordClient>[0]> = {}) => new KeycordClient({ baseUrl: `${base}/${prefix}`, appId, publicKey: publicKeyHex, ...extra });
const proof = { licenseKey: 'K', hwid: 'H' };

describe('timeoutMs: every call settles within its deadline', () => {
  it('fails with a KeycordTimeoutError when the server never answers', async () => {
    const err = await sdk('hang', { timeoutMs: 300 })
      .validate({ licenseKey: 'K', hwid: 'H' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(sdkModule.KeycordTimeoutError);
    expect(err).toMatchObject({ ...timedOut, timeoutMs: 300, message: expect.stringMatching(/did not answer within 300 ms/) });
  }, 10_000);

  it('covers reading the body: a signed-looking answer that never ends times out too', async () => {
    await expect(sdk('trickle-signed', { timeoutMs: 400 }).checkExpiration({ licenseKey: 'K' })).rejects.toMatchObject(timedOut);
    await expect(sdk('hang', { timeoutMs: 300 }).downloadFile(1, proof)).rejects.toMatchObject(timedOut);
  }, 10_000);

  it('holds for a fetch given in the options that ignores the abort signal', async () => {
    const deaf: typeof fetch = () => new Promise<Response>(() => {});
    await expect(sdk('hang', { timeoutMs: 200, fetch: deaf }).getVariable('x')).rejects.toMatchObject(timedOut);
  }, 10_000);

  it('refuses a timeout that is no number of milliseconds', () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) expect(() => sdk('hang', { timeoutMs })).toThrow(TypeError);
  });

  it('an OfflineLease takes a timeout as Keycord unreachable and falls back to the lease it holds', async () => {
    const held = lease({
      baseUrl: `${base}/hang`,
      appId,
      publicKey: publicKeyHex,
      licenseKey: 'KEY-1',
      hwid: 'HW-1',
      timeoutMs: 300,
      store: { load: () => signedLease(appId, privateKey), save: () => {} },
    });
    expect(await held.check()).toMatchObject({ status: 'valid', online: false });
  }, 10_000);
});

describe('nothing unsigned or oversized is read', () => {
  it('refuses an unsigned answer from its headers, without waiting for its endless body', async () => {
    // The deadline is far: only refusing before reading the body settles these calls.
    const c = sdk('trickle-unsigned', { timeoutMs: 60_000 });
    await expect(c.validate({ licenseKey: 'K', hwid: 'H' })).rejects.toThrow(KeycordVerificationError);
    await expect(c.downloadFile(1, proof)).rejects.toThrow(KeycordVerificationError);
    await expect(c.getVariable('x', proof)).rejects.toThrow(/not signed/);
  }, 20_000);

  it('stops reading a JSON answer past MAX_ANSWER_BYTES, and refuses one whose Content-Length is over it at once', async () => {
    await expect(sdk('huge', { timeoutMs: 60_000 }).validate({ licenseKey: 'K', hwid: 'H' })).rejects.toThrow(/larger than/);
    await expect(sdk('declared-huge', { timeoutMs: 60_000 }).validate({ licenseKey: 'K', hwid: 'H' })).rejects.toThrow(/larger than/);
    // The server could write ahead into the socket's buffers, but nowhere near all 64 MB.
    expect(written.huge).toBeLessThan(16 * (1 << 20));
    expect(written['declared-huge']).toBeLessThan(16 * (1 << 20));
  }, 30_000);

  it('reads a download no further than the size its signature names', async () => {
    const err = await sdk('oversized-file', { timeoutMs: 60_000 })
      .downloadFile(7, proof)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeycordVerificationError);
    expect(String(err)).toMatch(/larger than its signed size/);
    expect(written['oversized-file']).toBeLessThan(16 * (1 << 20));
  }, 30_000);
});
