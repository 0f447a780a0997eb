import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { lease, OfflineLease, type LeaseResult } from '../src/client/index.js';
import { heldLease as signedLease } from './support/held-lease.js';

/*
 * OfflineLease loads the saved lease once, and every check() waits for that load: checks made
 * together at start-up, offline, all see the saved lease (none answers `none` because another
 * check had started the load first).
 */
const { publicKey: pub, privateKey } = generateKeyPairSync('ed25519');
const publicKeyHex = Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
const appId = randomUUID();

describe('OfflineLease at start-up', () => {
  it('concurrent checks all wait for the saved lease while Keycord cannot be reached', async () => {
    // A port nothing listens on: connection refused at once.
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    let loads = 0;
    const token = signedLease(appId, privateKey);
    const held = lease({
      baseUrl: `http://127.0.0.1:${port}`,
      appId,
      publicKey: publicKeyHex,
      licenseKey: 'KEY-1',
      hwid: 'HW-1',
      // A file or keychain read: asynchronous.
      store: { load: () => new Promise((r) => setTimeout(() => r((loads++, token)), 50)), save: () => {} },
    });
    const checks = await Promise.all([held.check(), held.check(), held.check()]);
    for (const check of checks) expect(check).toMatchObject({ status: 'valid', online: false });
    expect(loads).toBe(1);
  });

  it('a store that fails to load fails the checks waiting on it, and the next check loads again', async () => {
    let attempt = 0;
    const source = { requestLease: (): Promise<LeaseResult> => Promise.reject(new TypeError('fetch failed')) };
    const token = signedLease(appId, privateKey);
    const held = new OfflineLease(source, {
      licenseKey: 'KEY-1',
      hwid: 'HW-1',
      publicKey: publicKeyHex,
      store: { load: () => (attempt++ === 0 ? Promise.reject(new Error('disk busy')) : Promise.resolve(token)), save: () => {} },
    });
    await expect(held.check()).rejects.toThrow('disk busy');
    expect(await held.check()).toMatchObject({ status: 'valid', online: false });
  });
});
