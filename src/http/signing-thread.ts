import { Worker } from 'node:worker_threads';
import { responseMessage, sodiumSign, type SodiumSecretKey } from './ed25519.js';

/** Called with the 64-byte signature, or the error that prevented it. */
export type SignatureCallback = (err: Error | null, signature?: Buffer) => void;

interface Pending {
  secretKey: SodiumSecretKey;
  timestamp: string;
  payload: string | Buffer;
  done: SignatureCallback;
}

/**
 * Ed25519 signing of client answers on a second thread. Under load the event loop is the API's
 * bottleneck and a signature is its largest single cost, so the signatures of everything
 * answered in one turn go to the thread as one batch (one message each way) while the loop goes
 * on parsing, looking up and answering. One batch is in flight at a time; what arrives meanwhile
 * forms the next one, so batches grow with load instead of messages multiplying.
 *
 * If the thread fails, its batch and everything after are signed inline (`onFailure` is told
 * once): an answer is never left unsigned or unanswered. libsodium only: the thread exists where
 * sodium-native loaded (see ed25519.ts).
 *
 * A thread is a V8 heap and a Node runtime of its own (~18 MB resident), so it starts with the
 * first signature and ends after `idleMs` without one; the next signature starts it again.
 */
export class SigningThread {
  private worker: Worker | null = null;
  /** Stopped, or the thread failed: everything is signed inline from then on. */
  private inline = false;
  private queue: Pending[] = [];
  private inFlight: { id: number; batch: Pending[]; sentAt: number } | null = null;
  private flushScheduled = false;
  private nextId = 1;
  private lastSignedAt = 0;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly onFailure: (err: Error) => void = () => {},
    stallMs = 5000,
    idleMs = 60_000,
  ) {
    // A thread that stops answering would leave its answers hanging: after `stallMs` without an
    // answer to the batch in flight it counts as failed (a batch takes milliseconds). One that
    // has had nothing to sign for `idleMs` is ended, to give its memory back.
    this.watchdog = setInterval(
      () => {
        const now = performance.now();
        if (this.inFlight && now - this.inFlight.sentAt > stallMs) this.failed(new Error(`the signing thread did not answer within ${stallMs} ms`));
        else if (this.worker && !this.inFlight && this.queue.length === 0 && now - this.lastSignedAt > idleMs) this.retireIdle();
      },
      Math.min(1000, stallMs, idleMs),
    ).unref();
  }

  /** Signs `timestamp ‖ payload`; `done` is called once, from a later turn of the event loop. */
  sign(secretKey: SodiumSecretKey, timestamp: string, payload: string | Buffer, done: SignatureCallback): void {
    this.queue.push({ secretKey, timestamp, payload, done });
    if (this.inline) return this.drainInline();
    this.lastSignedAt = performance.now();
    this.worker ??= this.startWorker();
    if (!this.inFlight && !this.flushScheduled) {
      this.flushScheduled = true;
      // After this turn's I/O callbacks, so everything answered in this turn goes in one batch.
      setImmediate(() => this.flush());
    }
  }

  /** Ends the thread; anything still waiting is signed inline first. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.inline = true;
    clearInterval(this.watchdog);
    this.drainInline();
    if (worker) await worker.terminate();
  }

  /** The thread's own handle (once a signature started it), for tests that need to make it fail. */
  get threadForTests(): Worker | null {
    return this.worker;
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./signing-worker.mjs', import.meta.url));
    // The thread never keeps the process alive; `stop` ends it with the app.
    worker.unref();
    // Events of a thread that was since retired or replaced are no longer this one's business.
    worker.on('message', (m: { id: number; signatures: ArrayBuffer }) => worker === this.worker && this.answered(m));
    worker.on('error', (err) => worker === this.worker && this.failed(err));
    worker.on('exit', (code) => worker === this.worker && this.failed(new Error(`the signing thread exited (code ${code})`)));
    return worker;
  }

  /** Nothing to sign for a while: the thread ends, not failed; the next signature starts another. */
  private retireIdle() {
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate().catch(() => {});
  }

  private flush() {
    this.flushScheduled = false;
    if (!this.worker || this.inFlight || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    // Each distinct key goes once per batch; messages go back to back in one transferred buffer.
    const keys: SodiumSecretKey[] = [];
    const keyIndex = new Map<SodiumSecretKey, number>();
    const keyOf = new Uint32Array(batch.length);
    const ends = new Uint32Array(batch.length);
    let total = 0;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      let k = keyIndex.get(p.secretKey);
      if (k === undefined) {
        k = keys.push(p.secretKey) - 1;
        keyIndex.set(p.secretKey, k);
      }
      keyOf[i] = k;
      total += p.timestamp.length + (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length);
      ends[i] = total;
    }
    const messages = new ArrayBuffer(total);
    const bytes = Buffer.from(messages);
    let at = 0;
    for (const p of batch) {
      at += bytes.write(p.timestamp, at, 'latin1');
      at += typeof p.payload === 'string' ? bytes.write(p.payload, at) : p.payload.copy(bytes, at);
    }
    // Copied into a buffer of their own: posting a Buffer that is a slice of Node's pool would
    // copy the whole pool.
    const keyBytes = new ArrayBuffer(keys.length * 64);
    keys.forEach((key, i) => key.copy(Buffer.from(keyBytes, i * 64, 64)));
    const id = this.nextId++;
    this.inFlight = { id, batch, sentAt: performance.now() };
    this.worker.postMessage({ id, messages, ends, keyOf, keys: keyBytes }, [messages, ends.buffer, keyOf.buffer, keyBytes]);
  }

  private answered({ id, signatures }: { id: number; signatures: ArrayBuffer }) {
    const inFlight = this.inFlight;
    if (!inFlight || inFlight.id !== id) return;
    this.inFlight = null;
    const all = Buffer.from(signatures);
    for (let i = 0; i < inFlight.batch.length; i++) inFlight.batch[i]!.done(null, all.subarray(i * 64, i * 64 + 64));
    this.flush();
  }

  private failed(err: Error) {
    const worker = this.worker;
    if (!worker) return; // stopped on purpose, or already failed
    this.worker = null;
    this.inline = true;
    clearInterval(this.watchdog);
    this.onFailure(err);
    this.drainInline();
    void worker.terminate().catch(() => {});
  }

  private drainInline() {
    const pending = [...(this.inFlight?.batch ?? []), ...this.queue];
    this.inFlight = null;
    this.queue = [];
    for (const p of pending) {
      let signature: Buffer;
      try {
        signature = sodiumSign(p.secretKey, responseMessage(p.timestamp, p.payload));
      } catch (err) {
        p.done(err as Error);
        continue;
      }
      p.done(null, signature);
    }
  }
}
