import { sql } from 'drizzle-orm';
import type { Deps } from '../../core/deps.js';
import { rowsOf } from '../../db/client.js';
import { settleWithin } from '../../settle-within.js';
import { WakeableSleep } from '../wakeable-sleep.js';

/** The advisory lock namespace of the local provider (any constant no one else uses); the key is the installation's. */
const LOCAL_RUNNER_LOCK = 0x6b63_6c70;
/** How often the holder makes sure its lock's connection is still there (a lost connection lets the lock go). */
const CONFIRM_EVERY_MS = 1000;
/** How long `confirm` waits for the lock's connection to answer before taking it as lost. */
const CONFIRM_TIMEOUT_MS = 2000;

/**
 * Which process runs the local provider's jobs. Every process started on one DATABASE_URL without
 * REDIS_URL has a local provider; their in-memory schedules (webhook retries, event retries) know
 * nothing of each other, so two running at once POST each retry twice and dispatch an event one of
 * them is dispatching (its listeners, the Discord notices, twice). So one of them at a time runs
 * the jobs: the one holding a Postgres advisory lock, taken in a transaction kept open while it
 * runs (a transaction-level lock goes with its connection: a process that dies lets it go); the
 * others stand by, trying again every `retryMs`, and take over from the database when it goes.
 * What must not happen twice once another has taken over asks `confirm` first.
 * The embedded database has one process by construction (its DATA_DIR lock), and one connection
 * that an open transaction would hold from everyone else: there it is always held.
 */
export class RunnerLock {
  private held: boolean;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly pause = new WakeableSleep();
  /** Asks the connection that holds the lock to answer, while this process holds it. */
  private ping: (() => Promise<unknown>) | undefined;
  private takings = 0;

  constructor(
    private readonly deps: Deps,
    private readonly installationId: string,
    private readonly opts: { retryMs: number },
  ) {
    this.held = deps.db.kind === 'pglite';
  }

  /** Whether this process runs the jobs now. */
  get holds(): boolean {
    return this.held && !this.stopping;
  }

  /**
   * Which taking of the lock this process runs the jobs under (a new one each time it takes the
   * lock again): work started under one is `confirm`ed against it.
   */
  get tenure(): number {
    return this.takings;
  }

  /**
   * Whether this process has run the jobs without a break since `tenure` (read when the work
   * began), asked of the database: the connection that holds the lock answers (the lock lives as
   * long as it does). `holds` says what the last confirmation, up to a second old, found; this is
   * asked before what another process must not repeat once it has taken over (an event's
   * listeners: the Discord notices). A lock lost and taken back meanwhile is a break: the other
   * process may have run the jobs in between. False when the connection does not answer within
   * CONFIRM_TIMEOUT_MS.
   */
  async confirm(tenure: number): Promise<boolean> {
    if (tenure !== this.takings) return false;
    if (this.deps.db.kind === 'pglite') return this.holds;
    const ping = this.ping;
    if (!this.holds || !ping) return false;
    const answered = await settleWithin(
      ping().then(
        () => true,
        () => false,
      ),
      CONFIRM_TIMEOUT_MS,
      false,
    );
    return answered && this.holds && tenure === this.takings;
  }

  start(): void {
    if (this.deps.db.kind === 'pglite' || this.loop) return;
    this.loop = this.run();
  }

  /** Lets the lock go (the transaction ends), so a process standing by takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.pause.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failing = false;
    while (!this.stopping) {
      // Over once this attempt's transaction has settled: a lost connection rejects it at once,
      // while its callback still sleeps between confirmations.
      const attempt = { over: false };
      try {
        await this.deps.db.orm.transaction(async (tx) => {
          const [row] = rowsOf<{ taken: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${LOCAL_RUNNER_LOCK}::int4, hashtext(${this.installationId})) as taken`));
          if (!row?.taken) return;
          this.held = true;
          this.takings++;
          this.ping = () => tx.execute(sql`select 1`);
          this.deps.log.info('local jobs: this process runs them');
          try {
            // Held until stopped, or until its connection fails (the lock is gone with it).
            while (!this.stopping) {
              await this.pause.sleep(CONFIRM_EVERY_MS);
              // Lost meanwhile: the callback never settles. Once it settles, postgres.js (3.4.9,
              // porsager/postgres#1208) writes the transaction's COMMIT or ROLLBACK to the connection
              // it has dropped, from a setImmediate: an uncaught TypeError, which stopped the whole
              // process on every Postgres restart. Pending, it holds this closure alone, once per
              // lost lock.
              if (attempt.over) await new Promise<never>(() => {});
              if (!this.stopping) await tx.execute(sql`select 1`);
            }
          } finally {
            // Before the transaction ends: a ping after its ROLLBACK would run outside it, and answer.
            this.ping = undefined;
          }
        });
        failing = false;
      } catch (err) {
        if (!failing) this.deps.log.warn({ err: (err as Error).message }, 'local jobs: lost the database connection that holds the runner lock; trying again');
        failing = true;
      } finally {
        // No query goes to the attempt's connection once it is over (it may be the dropped one).
        this.ping = undefined;
        attempt.over = true;
        if (this.held) this.deps.log.info('local jobs: this process stopped running them');
        this.held = false;
      }
      if (!this.stopping) await this.pause.sleep(this.opts.retryMs);
    }
  }
}
