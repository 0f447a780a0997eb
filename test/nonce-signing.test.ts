import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseMessage, sodiumSecretKey } from '../src/http/ed25519.js';
import { NONCE_SIGNING, scalarKeyOf, signWithNonce } from '../src/http/ed25519-nonces.js';
import { NoncePool } from '../src/http/nonce-pool.js';
import { verifyLease } from '../src/client/lease.js';
import { client, startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

/**
 * Client answers are signed with nonces made ahead on a second thread (ed25519-nonces.ts,
 * nonce-pool.ts). Every signature is checked with OpenSSL's verifier, which knows nothing of how
 * the nonce was made.
 */
function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, secretKey: sodiumSecretKey(privateKey)! };
}

/** Takes a pair, waiting for the thread to fill the pool when it is empty. */
const pairFrom = (pool: NoncePool) => waitFor(() => pool.take() ?? undefined, 5000, 'a nonce pair');

describe.skipIf(!NONCE_SIGNING)('signing with a nonce made ahead', () => {
  it('verifies for every key and payload kind, and only for the message signed', async () => {
    const pool = new NoncePool(() => {}, 64);
    try {
      const keys = [keyPair(), keyPair(), keyPair()];
      for (let i = 0; i < 300; i++) {
        const key = keys[i % keys.length]!;
        const timestamp = String(1_767_225_600 + (i % 7));
        const payload = i % 5 === 0 ? Buffer.from(`binary ${i}`) : JSON.stringify({ n: i, text: 'Grüße ✓'.repeat(i % 4) });
        const signature = signWithNonce(scalarKeyOf(key.secretKey), await pairFrom(pool), timestamp, payload);
        expect(verify(null, responseMessage(timestamp, payload), key.publicKey, signature)).toBe(true);
        expect(verify(null, responseMessage(String(Number(timestamp) + 1), payload), key.publicKey, signature)).toBe(false);
        expect(verify(null, responseMessage(timestamp, payload), keys[(i + 1) % keys.length]!.publicKey, signature)).toBe(false);
      }
    } finally {
      await pool.stop();
    }
  });

  it('never hands out a pair twice, and wipes each once it has signed', async () => {
    const pool = new NoncePool(() => {}, 128);
    const key = keyPair();
    const seen = new Set<string>();
    try {
      // Several batches' worth: pairs from the chunk in use, the ready one, and refills.
      for (let i = 0; i < 1000; i++) {
        const pair = await pairFrom(pool);
        const R = pair.subarray(32).toString('hex');
        expect(seen.has(R)).toBe(false);
        seen.add(R);
        const signature = signWithNonce(scalarKeyOf(key.secretKey), pair, '1767225600', `m${i}`);
        expect(signature.subarray(0, 32).toString('hex')).toBe(R);
        expect(pair.every((b) => b === 0)).toBe(true);
      }
    } finally {
      await pool.stop();
    }
    expect(seen.size).toBe(1000);
  });

  it('gives nothing when empty, asks its thread for a batch, and keeps a batch ahead', async () => {
    const pool = new NoncePool(() => {}, 32);
    try {
      expect(pool.threadForTests).toBeNull();
      expect(pool.take()).toBeNull();
      expect(pool.threadForTests).not.toBeNull();
      await pairFrom(pool);
      // After the first batch came, the pool asks for the next before this one runs out.
      for (let i = 0; i < 31; i++) pool.take();
      await waitFor(() => pool.take() !== null, 5000, 'the next batch');
    } finally {
      await pool.stop();
    }
  });

  it('gives nothing once its thread died, and says so once', async () => {
    const failures: Error[] = [];
    const pool = new NoncePool((err) => failures.push(err), 16);
    await pairFrom(pool);
    await pool.threadForTests!.terminate();
    await waitFor(() => failures.length > 0, 5000, 'the failure');
    expect(pool.take()).toBeNull();
    expect(pool.take()).toBeNull();
    expect(failures.map((e) => e.message)).toEqual(['the nonce thread exited (code 1)']);
    await pool.stop();
  });

  it('counts a thread that stops answering as failed', async () => {
    const failures: Error[] = [];
    const pool = new NoncePool((err) => failures.push(err), 16, 200);
    expect(pool.take()).toBeNull();
    // Its answers are lost from now on, as if it hung.
    pool.threadForTests!.removeAllListeners('message');
    await waitFor(() => failures.length > 0, 3000, 'the stall to be noticed');
    expect(failures.map((e) => e.message)).toEqual(['the nonce thread did not answer within 200 ms']);
    expect(pool.take()).toBeNull();
    await pool.stop();
  });

  it('ends its thread after a while without a pair taken, keeps the pairs, and starts again when low', async () => {
    const failures: Error[] = [];
    const pool = new NoncePool((err) => failures.push(err), 16, 5000, 300);
    try {
      await pairFrom(pool);
      const started = pool.threadForTests!;
      await new Promise((resolve) => started.once('exit', resolve));
      expect(pool.threadForTests).toBeNull();
      // The pairs it made are still there, and taking them runs the pool low: a new thread.
      expect(pool.take()).not.toBeNull();
      expect(pool.threadForTests).not.toBeNull();
      expect(pool.threadForTests).not.toBe(started);
      expect(failures).toEqual([]);
    } finally {
      await pool.stop();
    }
  });

  it('wipes what it holds when stopped, and gives nothing after', async () => {
    const pool = new NoncePool(() => {}, 16);
    const first = await pairFrom(pool);
    const held = Buffer.from(first.buffer, first.byteOffset, 16 * 64);
    await pool.stop();
    expect(held.every((b) => b === 0)).toBe(true);
    expect(pool.take()).toBeNull();
  });

  it('counts the takes that found it empty (answers signed inline), for the minute report', async () => {
    const pool = new NoncePool(() => {}, 16);
    try {
      // A new pool has nothing yet: the first answers are signed inline.
      expect(pool.take()).toBeNull();
      expect(pool.take()).toBeNull();
      expect(pool.drainDryTakes()).toBe(2);
      expect(pool.drainDryTakes()).toBe(0);
      await pairFrom(pool);
      expect(pool.drainDryTakes()).toBeGreaterThan(0); // pairFrom's polls while the thread made the first batch
      for (let i = 0; i < 8; i++) expect(pool.take()).not.toBeNull();
      expect(pool.drainDryTakes()).toBe(0);
    } finally {
      await pool.stop();
    }
  });

  it.runIf(process.platform === 'linux')('makes its pairs at the lowest priority, on its own thread only', async () => {
    const before = threadNiceness();
    const pool = new NoncePool(() => {}, 64);
    try {
      await pairFrom(pool);
      const after = threadNiceness();
      const lowered = [...after].filter(([tid, nice]) => nice === 19 && before.get(tid) !== 19).map(([tid]) => tid);
      expect(lowered).toHaveLength(1);
      // The event loop's thread (its id is the process's) keeps its priority.
      expect(after.get(process.pid)).toBe(before.get(process.pid));
      expect(after.get(process.pid)).not.toBe(19);
    } finally {
      await pool.stop();
    }
  });
});

/** The nice value of each thread of this process, by thread id (Linux: /proc/self/task/<tid>/stat, field 19). */
function threadNiceness(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): the first is field 3.
    nice.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19 - 3]));
  }
  return nice;
}

describe('client answers signed under load', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { SIGNING_THREAD: 'true' } });
  });
  afterAll(() => h?.close());

  it('carry the signature of their own body, for 300 concurrent validations of two applications, inline and with nonces', async () => {
    const s = await h.seller();
    const setups = [await s.setup(), await s.setup()];
    const licenses = await Promise.all(setups.map(({ plan }) => s.generate(plan.id, 1)));
    const publicKeys = setups.map(({ app }) =>
      createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(app.public_key, 'hex')]), format: 'der', type: 'spki' }),
    );
    const rounds = async (round: number) => {
      const answers = await Promise.all(
        Array.from({ length: 150 }, (_, i) => {
          const a = i % 2;
          // A nonce per request makes every body different, so a signature given to the wrong
          // answer cannot verify.
          return client(h, '/api/licenses/validate', { app_id: setups[a]!.app.app_id, license_key: licenses[a]![0]!.license_key, hwid: 'PC-1', nonce: `nonce-${round}-${i}-0000` }).then((res) => ({
            a,
            i,
            res,
          }));
        }),
      );
      const signatures = new Set<string>();
      for (const { a, i, res } of answers) {
        expect(res.statusCode).toBe(200);
        expect(res.json().nonce).toBe(`nonce-${round}-${i}-0000`);
        const message = Buffer.from(String(res.headers['x-signature-timestamp']) + res.body);
        const signature = Buffer.from(String(res.headers['x-signature-ed25519']), 'hex');
        expect(verify(null, message, publicKeys[a]!, signature)).toBe(true);
        expect(verify(null, message, publicKeys[1 - a]!, signature)).toBe(false);
        signatures.add(signature.subarray(0, 32).toString('hex'));
      }
      // No two answers share a nonce point R.
      expect(signatures.size).toBe(150);
    };
    // The first answers are signed inline (the pool starts empty), later ones with its nonces.
    await rounds(1);
    await new Promise((r) => setTimeout(r, 500));
    await rounds(2);
  });

  it('sign offline leases with nonces made ahead too, and every lease verifies offline', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [license] = await s.generate(plan.id, 1);
    const request = { app_id: app.app_id, license_key: license!.license_key, hwid: 'PC-1' };
    expect((await client(h, '/api/licenses/validate', request)).json().code).toBe('VALID');
    await new Promise((r) => setTimeout(r, 500)); // the pool has pairs by now
    const signingKey = (await h.deps.apps.get(app.app_id))!.signingKey;
    const leases = await Promise.all(Array.from({ length: 60 }, () => client(h, '/api/licenses/lease', request)));
    const points = new Set<string>();
    for (const res of leases) {
      expect(res.statusCode).toBe(200);
      const token: string = res.json().lease;
      expect(verifyLease(token, app.public_key, { hwid: 'PC-1' }).status).toBe('valid');
      const [body, signature] = token.split('.') as [string, string];
      // RFC 8032's deterministic signature of the same bytes differs: this one used a nonce made ahead.
      expect(signature).not.toBe(sign(null, Buffer.from(body, 'ascii'), signingKey).toString('base64url'));
      points.add(Buffer.from(signature, 'base64url').subarray(0, 32).toString('hex'));
      points.add(String(res.headers['x-signature-ed25519']).slice(0, 64));
    }
    // The lease's nonce and its answer's are two pairs: none of the 120 nonce points repeats.
    expect(points.size).toBe(120);
  });
});
