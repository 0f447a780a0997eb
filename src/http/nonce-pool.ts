import { Worker } from 'node:worker_threads';

/**
 * Ed25519 nonce pairs (r ‖ R, 64 bytes each; see ed25519-nonces.ts) made ahead on a second thread,
 * a batch at a time: the event loop signs an answer with a pair in a few µs, and the thread's cost
 * is one message each way per batch rather than per answer (a message to a sleeping thread cost
 * the loop 12–16 µs an answer under load, more than the signature it saved).
 *
 * Every pair is handed out once: the pool only moves forward, and signing wipes the pair. When
 * the pool is empty (the first answers after a start, a burst beyond what the thread keeps up
 * with) or the thread failed, `take` gives null and the caller signs inline, RFC 8032's way: an
 * answer is never left unsigned or waiting.
 *
 * A thread is a V8 heap and a Node runtime of its own (~18 MB resident): it starts when the pool
 * first runs low and ends after `idleMs` without a pair taken; the pairs it made stay usable.
 */
export class NoncePool {
  private worker: Worker | null = null;
  /** Stopped, or the thread failed: no pairs from then on. */
  private off = false;
  private current: Buffer | null = null;
  private offset = 0;
  private readonly ready: Buffer[] = [];
  private requestedAt: number | null = null;
  private lastTakenAt = 0;
  /** Takes that found the pool empty while it was on (answers signed inline), since the last `drainDryTakes`. */
  private dry = 0;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly onFailure: (err: Error) => void = () => {},
    /** Pairs per batch; the pool asks for the next batch when fewer than this are left. */
    private readonly batch = 1024,
    stallMs = 60_000,
    idleMs = 60_000,
  ) {
    // A thread that stops answering would leave the pool dry for good: after `stallMs` without an
    // answer it counts as failed. A batch is ~15 ms of CPU, but the thread runs at the lowest
    // priority, so on cores saturated by everything else it can take seconds; meanwhile answers
    // are signed inline, so waiting long costs nothing, and a thread wrongly written off would
    // leave nonces off until a restart. One with nothing to do for `idleMs` is ended, to give its
    // memory back.
    this.watchdog = setInterval(
      () => {
        const now = performance.now();
        if (this.requestedAt !== null && now - this.requestedAt > stallMs) this.failed(new Error(`the nonce thread did not answer within ${stallMs} ms`));
        else if (this.worker && this.requestedAt === null && now - this.lastTakenAt > idleMs) this.retireIdle();
      },
      Math.min(1000, stallMs, idleMs),
    ).unref();
  }

  /** A pair nobody else gets (r ‖ R), or null: sign inline then. */
  take(): Buffer | null {
    if (this.off) return null;
    this.lastTakenAt = performance.now();
    if (this.current && this.offset === this.current.length) this.current = null;
    if (!this.current) {
      this.current = this.ready.shift() ?? null;
      this.offset = 0;
    }
    if (this.requestedAt === null && this.left() < this.batch) this.request();
    if (!this.current) {
      this.dry++;
      return null;
    }
    const pair = this.current.subarray(this.offset, this.offset + 64);
    this.offset += 64;
    return pair;
  }

  /**
   * How many takes found the pool empty since the last call (the first answers after a start, or a
   * thread that did not keep up: it runs at the lowest priority), and starts counting again.
   */
  drainDryTakes(): number {
    const dry = this.dry;
    this.dry = 0;
    return dry;
  }

  /** Ends the thread and wipes the pairs not used. */
  async stop(): Promise<void> {
    this.off = true;
    clearInterval(this.watchdog);
    this.wipe();
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }

  /** The thread's own handle (once the pool first ran low), for tests that need to make it fail. */
  get threadForTests(): Worker | null {
    return this.worker;
  }

  private left(): number {
    let bytes = this.current ? this.current.length - this.offset : 0;
    for (const b of this.ready) bytes += b.length;
    return bytes / 64;
  }

  private request() {
    this.worker ??= this.startWorker();
    this.requestedAt = performance.now();
    this.worker.postMessage(this.batch);
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./nonce-worker.mjs', import.meta.url));
    // The thread never keeps the process alive; `stop` ends it with the app.
    worker.unref();
    // Events of a thread that was since retired or replaced are no longer this one's business.
    worker.on('message', (pairs: ArrayBuffer) => worker === this.worker && this.received(pairs));
    worker.on('error', (err) => worker === this.worker && this.failed(err));
    worker.on('exit', (code) => worker === this.worker && this.failed(new Error(`the nonce thread exited (code ${code})`)));
    return worker;
  }

  private received(pairs: ArrayBuffer) {
    this.requestedAt = null;
    // A batch that arrives once the pool is off is wiped, never kept.
    if (this.off) return void new Uint8Array(pairs).fill(0);
    this.ready.push(Buffer.from(pairs));
    if (this.left() < this.batch) this.request();
  }

  /** Nothing taken for a while: the thread ends, not failed; the pool asks a new one when it runs low. */
  private retireIdle() {
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate().catch(() => {});
  }

  private failed(err: Error) {
    const worker = this.worker;
    if (!worker || this.off) return; // stopped on purpose, or already failed
    this.worker = null;
    this.off = true;
    this.requestedAt = null;
    clearInterval(this.watchdog);
    this.wipe();
    this.onFailure(err);
    void worker.terminate().catch(() => {});
  }

  private wipe() {
    this.current?.fill(0);
    for (const b of this.ready) b.fill(0);
    this.current = null;
    this.ready.length = 0;
  }
}
