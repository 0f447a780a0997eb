import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ED25519_BACKEND, responseMessage, sodiumSecretKey } from '../src/http/ed25519.js';
import { SigningThread } from '../src/http/signing-thread.js';
import { client, startHarness, type Harness } from './support/harness.js';

const libsodium = ED25519_BACKEND === 'libsodium';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, secretKey: sodiumSecretKey(privateKey)! };
}

/** Signs through the thread and resolves with the signature (or rejects with its error). */
const signVia = (thread: SigningThread, secretKey: Buffer, timestamp: string, payload: string | Buffer) =>
  new Promise<Buffer>((resolve, reject) => thread.sign(secretKey, timestamp, payload, (err, sig) => (err ? reject(err) : resolve(sig!))));

describe.skipIf(!libsodium)('the signing thread', () => {
  it('gives every message its own signature, in batches mixing keys and payload kinds', async () => {
    const thread = new SigningThread();
    try {
      const keys = [keyPair(), keyPair(), keyPair()];
      const jobs = Array.from({ length: 600 }, (_, i) => {
        const key = keys[i % keys.length]!;
        const timestamp = String(1_767_225_600 + (i % 7));
        const payload = i % 5 === 0 ? Buffer.from(`binary ${i}`) : JSON.stringify({ n: i, text: 'Grüße ✓'.repeat(i % 4) });
        return { key, timestamp, payload, signature: signVia(thread, key.secretKey, timestamp, payload) };
      });
      for (const job of jobs) {
        const signature = await job.signature;
        const message = responseMessage(job.timestamp, job.payload);
        // Ed25519 is deterministic: the thread's bytes are exactly what OpenSSL makes inline.
        expect(signature.equals(sign(null, message, job.key.privateKey))).toBe(true);
        expect(verify(null, message, job.key.publicKey, signature)).toBe(true);
      }
    } finally {
      await thread.stop();
    }
  });

  it('signs inline what it was given when the thread dies, and everything after', async () => {
    const failures: Error[] = [];
    const thread = new SigningThread((err) => failures.push(err));
    const key = keyPair();
    const inFlight = Array.from({ length: 50 }, (_, i) => signVia(thread, key.secretKey, '1767225600', `before ${i}`));
    await thread.threadForTests!.terminate();
    const after = Array.from({ length: 5 }, (_, i) => signVia(thread, key.secretKey, '1767225600', `after ${i}`));
    const signatures = await Promise.all([...inFlight, ...after]);
    signatures.forEach((signature, i) => {
      const payload = i < 50 ? `before ${i}` : `after ${i - 50}`;
      expect(verify(null, responseMessage('1767225600', payload), key.publicKey, signature)).toBe(true);
    });
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/signing thread exited/);
    await thread.stop();
  });

  it('signs inline what a thread that stopped answering held', async () => {
    const failures: Error[] = [];
    const thread = new SigningThread((err) => failures.push(err), 200);
    const key = keyPair();
    // The thread starts with the first signature; its answers are lost from then on, as if it hung.
    await signVia(thread, key.secretKey, '1767225600', 'first');
    thread.threadForTests!.removeAllListeners('message');
    const started = Date.now();
    const signatures = await Promise.all(Array.from({ length: 10 }, (_, i) => signVia(thread, key.secretKey, '1767225600', `held ${i}`)));
    expect(Date.now() - started).toBeLessThan(3000);
    signatures.forEach((signature, i) => expect(verify(null, responseMessage('1767225600', `held ${i}`), key.publicKey, signature)).toBe(true));
    expect(failures.map((e) => e.message)).toEqual(['the signing thread did not answer within 200 ms']);
    await thread.stop();
  });

  it('starts with the first signature, ends after a while without one, and starts again for the next', async () => {
    const failures: Error[] = [];
    const thread = new SigningThread((err) => failures.push(err), 5000, 300);
    const key = keyPair();
    expect(thread.threadForTests).toBeNull();
    const first = await signVia(thread, key.secretKey, '1767225600', 'first');
    const started = thread.threadForTests;
    expect(started).not.toBeNull();
    await new Promise((resolve) => started!.once('exit', resolve));
    expect(thread.threadForTests).toBeNull();
    const second = await signVia(thread, key.secretKey, '1767225601', 'second');
    expect(thread.threadForTests).not.toBeNull();
    expect(thread.threadForTests).not.toBe(started);
    expect(verify(null, responseMessage('1767225600', 'first'), key.publicKey, first)).toBe(true);
    expect(verify(null, responseMessage('1767225601', 'second'), key.publicKey, second)).toBe(true);
    // Ending an idle thread is not a failure: the thread keeps being used.
    expect(failures).toEqual([]);
    await thread.stop();
  });

  it('finishes what is waiting when stopped, then keeps signing inline', async () => {
    const thread = new SigningThread();
    const key = keyPair();
    const waiting = signVia(thread, key.secretKey, '1767225600', 'waiting');
    await thread.stop();
    expect(verify(null, responseMessage('1767225600', 'waiting'), key.publicKey, await waiting)).toBe(true);
    const later = await signVia(thread, key.secretKey, '1767225601', 'later');
    expect(verify(null, responseMessage('1767225601', 'later'), key.publicKey, later)).toBe(true);
  });
});

describe('client answers signed under load', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { SIGNING_THREAD: 'true' } });
  });
  afterAll(() => h?.close());

  it('carry the signature of their own body, for 300 concurrent validations of two applications', async () => {
    const s = await h.seller();
    const setups = [await s.setup(), await s.setup()];
    const licenses = await Promise.all(setups.map(({ plan }) => s.generate(plan.id, 1)));
    const publicKeys = setups.map(({ app }) =>
      createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(app.public_key, 'hex')]), format: 'der', type: 'spki' }),
    );
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const a = i % 2;
        // A nonce per request makes every body different, so a signature given to the wrong
        // answer cannot verify.
        return client(h, '/api/licenses/validate', { app_id: setups[a]!.app.app_id, license_key: licenses[a]![0]!.license_key, hwid: 'PC-1', nonce: `nonce-${i}-0000` }).then((res) => ({ a, i, res }));
      }),
    );
    for (const { a, i, res } of answers) {
      expect(res.statusCode).toBe(200);
      expect(res.json().nonce).toBe(`nonce-${i}-0000`);
      const message = Buffer.from(String(res.headers['x-signature-timestamp']) + res.body);
      expect(verify(null, message, publicKeys[a]!, Buffer.from(String(res.headers['x-signature-ed25519']), 'hex'))).toBe(true);
      expect(verify(null, message, publicKeys[1 - a]!, Buffer.from(String(res.headers['x-signature-ed25519']), 'hex'))).toBe(false);
    }
  });
});
