import { sql } from 'drizzle-orm';
import { rowsOf, type Db, type Tx } from '../db/client.js';
import { OUTBOX_COLUMNS, outboxRowFrom, type OutboxRow, type RawOutboxRow } from '../core/webhooks/delivery-statements.js';
import type { Deps } from '../core/deps.js';
import { deliveryPending, generationJobUnfinished } from '../core/jobs/unfinished-work.js';
import { depsInTransaction } from '../core/users/transaction-deps.js';
import { EVENTS_PER_BATCH } from './definitions/dispatch-event.js';
import { enqueueManyUnlessHeld, enqueueUnlessHeld } from './enqueue.js';
import type { JobSpecs } from './job-specs.js';
import { settleWithin } from '../settle-within.js';
import { keepRelayedEvents } from './relayed-events.js';
import { WakeableSleep } from './wakeable-sleep.js';

/**
 * Rows per claim. A burst of 2,000 events took ~370-500 ms to relay in 10 claims of 200, one after
 * another, and ~90-280 ms in two of 1,000 (bench:webhooks, the poll's wait included); the jobs are
 * the same few Redis calls either way (EVENTS_PER_BATCH events each).
 */
const RELAY_BATCH = 1000;

const PENDING_ROW = 'select 1 from outbox where relayed_at is null limit 1';

/**
 * The longest a claim's transaction waits for its jobs to be added. Adding a full claim takes well
 * under a second; a Redis that takes connections and then stops answering would otherwise hold the
 * transaction, its row locks and a pool connection for as long as it hangs. Past it the claim rolls
 * back and its rows wait for the next pass (jobs that got in meanwhile are added again as no-ops:
 * their ids are deterministic).
 */
const ENQUEUE_TIMEOUT_MS = 15_000;
const ENQUEUE_TIMED_OUT = Symbol('enqueue timed out');
const RELAY_STOPPED = Symbol('relay stopped');

function stopSignal(): { promise: Promise<typeof RELAY_STOPPED>; resolve: (stopped: typeof RELAY_STOPPED) => void } {
  let resolve!: (stopped: typeof RELAY_STOPPED) => void;
  const promise = new Promise<typeof RELAY_STOPPED>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Moves committed outbox rows to BullMQ. Rows are claimed with FOR UPDATE SKIP LOCKED (several
 * relays share the work) and marked relayed in the same transaction that enqueued them: if Redis
 * refuses, the transaction rolls back and the rows wait for the next pass. A crash after the
 * enqueue but before the commit enqueues again under the same deterministic job id — a no-op (an
 * event batch is named by its rows; rows its job dispatched meanwhile are not enqueued again).
 * When the rows claimed again differ (some dispatched meanwhile, new ones arrived), the new batch
 * has another id and may run beside the first: each event is then dispatched by the job holding
 * its lease (event-leases.ts), the other leaving it to a job of its own, so its listeners run once;
 * its deliveries' first attempts are one each anyway (the fan-out's hold, the unique (webhook,
 * event) pair, the deterministic delivery job ids).
 * A job another database left under that id is detected and replaced (enqueueUnlessHeld).
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly pause = new WakeableSleep();
  /** Settles when stop() is called: a claim waiting on the queue gives up then, not at its time-out. */
  private stopSignal = stopSignal();

  constructor(
    private readonly deps: Deps,
    private readonly specs: JobSpecs,
    private readonly opts: {
      pollMs: number;
      batchSize?: number;
      /**
       * Whether the queue can take jobs now (the bullmq provider: its Redis connection is ready).
       * No claim is made while it cannot: a claim waiting on a queue that is not there would hold
       * its transaction open for the whole outage.
       */
      canEnqueue?: () => boolean;
      /** ENQUEUE_TIMEOUT_MS unless set (tests). */
      enqueueTimeoutMs?: number;
    },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopSignal = stopSignal();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.pause.wake();
    this.stopSignal.resolve(RELAY_STOPPED);
    await this.loop;
  }

  /** Cuts the current wait short: the queue is back, so the rows waiting need not wait out a back-off. */
  wake(): void {
    this.pause.wake();
  }

  /** Relays one batch; returns how many rows it moved. */
  async relayOnce(): Promise<number> {
    if (this.queueAway()) throw new Error('the job queue is not connected');
    return this.deps.db.orm.transaction(async (tx) => {
      const claim = { open: true };
      try {
        return await this.claimAndEnqueue(tx, claim);
      } finally {
        claim.open = false;
      }
    });
  }

  /** The work of `relayOnce`'s transaction; `claim.open` turns false once it settles. */
  private async claimAndEnqueue(tx: Tx, claim: { open: boolean }): Promise<number> {
    // Claimed and marked in one statement; the marks commit only once the jobs are in Redis.
    const claimed = rowsOf<RawOutboxRow>(
      await tx.execute(sql`update outbox set relayed_at = ${this.deps.clock.now().toISOString()}::timestamptz
          where id in (select id from outbox where relayed_at is null order by id limit ${this.opts.batchSize ?? RELAY_BATCH} for update skip locked)
          returning ${sql.raw(OUTBOX_COLUMNS)}`),
    );
    if (claimed.length === 0) return 0;
    const rows = claimed.map(outboxRowFrom).sort((a, b) => a.id - b.id);
    // Kept before the jobs exist, so a job this process's workers take at once finds its row.
    keepRelayedEvents(this.deps.db, rows);
    // Whether the database still wants a job Redis holds as finished is asked in this
    // transaction: on the pool it would wait for a second connection while this one is held
    // (forever on the embedded database: its one connection, until the time-out rolled back).
    // Not once the claim is over (its time-out): postgres.js sends a statement of a finished
    // transaction on the bare connection, which by then may be another transaction's.
    const inClaim = depsInTransaction(this.deps, tx);
    const query: Db['query'] = (text, params) => (claim.open ? inClaim.db.query(text, params) : Promise.reject(new Error('the relay claim is over')));
    const enqueued = this.enqueue(rows, { ...inClaim, db: { ...inClaim.db, query } });
    enqueued.catch(() => {}); // a rejection after the time-out has nobody left to hear it
    const timeoutMs = this.opts.enqueueTimeoutMs ?? ENQUEUE_TIMEOUT_MS;
    const outcome = await settleWithin(Promise.race([enqueued, this.stopSignal.promise]), timeoutMs, ENQUEUE_TIMED_OUT);
    if (outcome === ENQUEUE_TIMED_OUT) throw new Error(`the job queue did not take the claimed rows within ${timeoutMs} ms`);
    if (outcome === RELAY_STOPPED) throw new Error('the relay stopped before the job queue took the claimed rows');
    return claimed.length;
  }

  private async enqueue(rows: OutboxRow[], deps: Deps) {
    const { specs } = this;
    // Events, the bulk of the outbox, go in batch jobs of EVENTS_PER_BATCH (one look for their ids,
    // one addBulk). A row relayed again (the pass that enqueued it crashed before its commit) that
    // its job has dispatched meanwhile needs none; the others are batched as before, and the same
    // rows make the same batch id, which BullMQ keeps once.
    const events = rows.filter((r) => r.kind === 'event' && r.dispatchedAt === null);
    const commands = rows.filter((r) => r.kind !== 'event');
    const batches: OutboxRow[][] = [];
    for (let i = 0; i < events.length; i += EVENTS_PER_BATCH) batches.push(events.slice(i, i + EVENTS_PER_BATCH));
    await Promise.all([
      batches.length === 0
        ? undefined
        : enqueueManyUnlessHeld(
            specs.eventQueue,
            // A batch of these very rows that has run already handed each event it did not dispatch
            // to a job of its own (or, that lost, to the reconciler): it is not run again.
            batches.map((batch) => ({ spec: specs.eventBatch(batch.map((r) => r.id)), stillWanted: async () => false })),
          ),
      ...commands.map(async (r) => {
        // Both kinds of jobs-table rows run on the generation queue (core/jobs/run-job.ts).
        if (r.type === 'generate_licenses' || r.type === 'bulk_licenses') {
          const jobId = Number(r.payload.job_id);
          await enqueueUnlessHeld(specs.generation(jobId), () => generationJobUnfinished(deps, jobId));
        } else if (r.type === 'redeliver_webhook') {
          const deliveryId = Number(r.payload.delivery_id);
          await enqueueUnlessHeld(specs.redelivery(deliveryId, r.id), () => deliveryPending(deps, deliveryId));
        } else {
          this.deps.log.error({ type: r.type, id: r.id }, 'unknown outbox command; skipping it');
        }
      }),
    ]);
  }

  private queueAway(): boolean {
    return this.opts.canEnqueue !== undefined && !this.opts.canEnqueue();
  }

  private async run() {
    let failures = 0;
    while (this.running) {
      // Not a failure: the RedisMonitor reports the outage, and 'ready' wakes this wait.
      if (this.queueAway()) {
        await this.pause.sleep(this.opts.pollMs);
        continue;
      }
      let moved = 0;
      try {
        moved = await this.relayOnce();
        if (failures > 0) this.deps.log.info('outbox relay resumed');
        failures = 0;
      } catch (err) {
        if (failures === 0) this.deps.log.warn({ err: (err as Error).message }, 'outbox relay paused (Redis or database unavailable); events stay in the outbox');
        failures++;
      }
      if (moved === 0 && this.running) {
        if (failures > 0) await this.pause.sleep(Math.min(this.opts.pollMs * 2 ** failures, 5000));
        else await this.idle();
      }
    }
  }

  /**
   * Waits for new rows: a look every fifth of OUTBOX_POLL_MS, each one indexed read (the pending
   * index holds only unrelayed rows) instead of the claim's transaction, so new rows are seen
   * sooner for about the same idle cost (one statement per 50 ms, where a claim was three round
   * trips per 250 ms). A burst waited half a poll on average before its first claim (bench:webhooks).
   * Returns after OUTBOX_POLL_MS at most, or as soon as a look finds a row or fails.
   */
  private async idle(): Promise<void> {
    const step = Math.max(10, Math.round(this.opts.pollMs / 5));
    for (let waited = 0; waited < this.opts.pollMs && this.running; waited += step) {
      await this.pause.sleep(step);
      if (!this.running) return;
      try {
        if ((await this.deps.db.query(PENDING_ROW)).length > 0) return;
      } catch {
        return; // the claim reports it
      }
    }
  }
}
