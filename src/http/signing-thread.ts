import { Worker } from 'node:worker_threads';
import { responseMessage, sodiumSign, type SodiumSecretKey } from './ed25519.js';

/** A batch's header: its id and its count (u32 each), padded to 8 bytes. */
const HEADER_BYTES = 8;

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
    worker.on('message', (m: ArrayBuffer) => worker === this.worker && this.answered(m));
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
    // Each distinct key goes once per batch. The whole batch is one transferred ArrayBuffer (see
    // signing-worker.mjs for the layout): a message's cost is mostly per transferred buffer and
    // per object cloned, so one bare buffer each way is the cheapest a batch can go.
    const keyIndex = new Map<SodiumSecretKey, number>();
    const keyOf = new Uint32Array(batch.length);
    let messageBytes = 0;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      let k = keyIndex.get(p.secretKey);
      if (k === undefined) keyIndex.set(p.secretKey, (k = keyIndex.size));
      keyOf[i] = k;
      messageBytes += p.timestamp.length + (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length);
    }
    const id = this.nextId++;
    const keysAt = HEADER_BYTES + 8 * batch.length;
    const messagesAt = keysAt + 64 * keyIndex.size;
    const packed = new ArrayBuffer(messagesAt + messageBytes);
    const words = new Uint32Array(packed, 0, keysAt / 4);
    words[0] = id;
    words[1] = batch.length;
    words.set(keyOf, HEADER_BYTES / 4 + batch.length);
    const bytes = Buffer.from(packed);
    for (const [key, k] of keyIndex) key.copy(bytes, keysAt + 64 * k);
    let at = messagesAt;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      at += bytes.write(p.timestamp, at, 'latin1');
      at += typeof p.payload === 'string' ? bytes.write(p.payload, at) : p.payload.copy(bytes, at);
      words[HEADER_BYTES / 4 + i] = at - messagesAt;
    }
    this.inFlight = { id, batch, sentAt: performance.now() };
    this.worker.postMessage(packed, [packed]);
  }

  /** The thread's answer: the batch id (u32), 60 bytes of padding, then 64-byte signatures in order. */
  private answered(answer: ArrayBuffer) {
    const inFlight = this.inFlight;
    if (!inFlight || new Uint32Array(answer, 0, 1)[0] !== inFlight.id) return;
    this.inFlight = null;
    const all = Buffer.from(answer);
    for (let i = 0; i < inFlight.batch.length; i++) inFlight.batch[i]!.done(null, all.subarray(64 + i * 64, 128 + i * 64));
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
