import { sign, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';

/**
 * Every client-API response is signed with the application's Ed25519 key over
 * `timestamp + raw body`, so a customer app can tell Keycord's answers from a forged server's.
 */
export function installClientSigning(app: FastifyInstance) {
  const signer = new Ed25519Signer();
  app.decorateRequest('clientApp', null);
  app.addHook('onSend', async (request, reply, payload) => {
    const clientApp = request.clientApp;
    if (!clientApp || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return payload;
    const timestamp = String(Math.floor(Date.now() / 1000));
    reply.header('X-Signature-Timestamp', timestamp);
    reply.header('X-Signature-Ed25519', await signer.sign(clientApp.signingKey, timestamp, payload));
    return payload;
  });
  app.addHook('onClose', () => signer.close());
}

/**
 * Runs in the worker. Plain CommonJS passed as source (`eval`), so it loads the same under tsx,
 * vitest and compiled JavaScript, none of which would agree on how to load a `.ts` worker file.
 * A batch is one buffer of messages with their end offsets; the answer is one string of
 * concatenated hex signatures (128 characters each).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { sign } = require('node:crypto');
parentPort.on('message', ({ keys, keyOf, data, ends }) => {
  try {
    const bytes = new Uint8Array(data);
    let hex = '';
    for (let i = 0, start = 0; i < ends.length; start = ends[i++]) {
      hex += sign(null, bytes.subarray(start, ends[i]), keys[keyOf[i]]).toString('hex');
    }
    parentPort.postMessage({ hex });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
`;

const SIGNATURE_HEX_LENGTH = 128;

interface Job {
  key: KeyObject;
  timestamp: string;
  payload: string | Buffer;
  resolve: (signatureHex: string) => void;
  reject: (err: unknown) => void;
}

/**
 * Ed25519 signing is the most expensive step of a client request: ~30 µs of native work, more
 * than Fastify's whole handling of it. Done inline it caps an instance at what one core can
 * sign. This signer moves it to a worker thread, so the event loop keeps parsing, querying and
 * writing while another core signs.
 *
 * A thread hop per response would cost the event loop about what it saves (libuv's thread pool,
 * `crypto.sign` with a callback, measured slower than signing inline), so signatures go in
 * batches: everything asked for in one turn of the event loop is one message, and while a batch
 * is out, new requests gather into the next. Under light load a batch is one response; under
 * heavy load the event loop's share is a couple of microseconds per signature.
 *
 * Signatures are deterministic, so the worker's bytes equal what `crypto.sign` inline gives.
 */
export class Ed25519Signer {
  private worker: Worker | undefined;
  private queued: Job[] = [];
  private inFlight: Job[] | undefined;
  private scheduled = false;
  private closed = false;
  private drained: (() => void) | undefined;

  sign(key: KeyObject, timestamp: string, payload: string | Buffer): Promise<string> {
    if (this.closed) return Promise.resolve(signInline(key, timestamp, payload));
    return new Promise((resolve, reject) => {
      this.queued.push({ key, timestamp, payload, resolve, reject });
      if (!this.inFlight && !this.scheduled) {
        this.scheduled = true;
        // After this turn's I/O callbacks: the responses finished together go as one batch.
        setImmediate(() => {
          this.scheduled = false;
          this.dispatch();
        });
      }
    });
  }

  /** Lets the batches already asked for finish, then stops the worker; later calls sign inline. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight || this.queued.length > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private dispatch() {
    if (this.inFlight || this.queued.length === 0) {
      if (!this.inFlight) this.drained?.();
      return;
    }
    const batch = this.queued;
    this.queued = [];
    this.inFlight = batch;

    const keys: KeyObject[] = [];
    const keyOf = new Array<number>(batch.length);
    const ends = new Array<number>(batch.length);
    let length = 0;
    batch.forEach((job, i) => {
      let k = keys.indexOf(job.key);
      if (k === -1) k = keys.push(job.key) - 1;
      keyOf[i] = k;
      length += Buffer.byteLength(job.timestamp) + Buffer.byteLength(job.payload);
      ends[i] = length;
    });
    // An unpooled buffer of exactly this size, so its memory can be handed over, not copied.
    const data = Buffer.allocUnsafeSlow(length);
    let at = 0;
    for (const job of batch) {
      at += data.write(job.timestamp, at);
      at += typeof job.payload === 'string' ? data.write(job.payload, at) : job.payload.copy(data, at);
    }
    this.ensureWorker().postMessage({ keys, keyOf, data: data.buffer, ends }, [data.buffer]);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    // An instance that is not closed (a test, a crashed start-up) must still be able to exit.
    worker.unref();
    worker.on('message', (answer: { hex?: string; error?: string }) => this.settle(answer));
    const fail = (err: unknown) => {
      if (this.worker !== worker) return;
      this.worker = undefined; // the next batch starts a fresh worker
      this.settle({ error: String(err instanceof Error ? err.message : err) });
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`signing worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private settle(answer: { hex?: string; error?: string }) {
    const batch = this.inFlight;
    if (!batch) return;
    this.inFlight = undefined;
    if (answer.hex !== undefined) {
      batch.forEach((job, i) => job.resolve(answer.hex!.slice(i * SIGNATURE_HEX_LENGTH, (i + 1) * SIGNATURE_HEX_LENGTH)));
    } else {
      const err = new Error(`response signing failed: ${answer.error}`);
      batch.forEach((job) => job.reject(err));
    }
    // What gathered while this batch was out goes at once: it has already waited a batch.
    this.dispatch();
  }
}

function signInline(key: KeyObject, timestamp: string, payload: string | Buffer): string {
  return sign(null, Buffer.concat([Buffer.from(timestamp), Buffer.from(payload)]), key).toString('hex');
}
