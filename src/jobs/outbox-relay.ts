import { sql } from 'drizzle-orm';
import { rowsOf } from '../db/client.js';
import { OUTBOX_COLUMNS, outboxRowFrom, type OutboxRow, type RawOutboxRow } from '../core/webhooks/delivery-statements.js';
import type { Deps } from '../core/deps.js';
import { deliveryPending, generationJobUnfinished } from '../core/jobs/unfinished-work.js';
import { enqueueManyUnlessHeld, enqueueUnlessHeld } from './enqueue.js';
import type { JobSpecs } from './job-specs.js';
import { keepRelayedEvents } from './relayed-events.js';

/**
 * Moves committed outbox rows to BullMQ. Rows are claimed with FOR UPDATE SKIP LOCKED (several
 * relays share the work) and marked relayed in the same transaction that enqueued them: if Redis
 * refuses, the transaction rolls back and the rows wait for the next pass. A crash after the
 * enqueue but before the commit enqueues again under the same deterministic job id — a no-op.
 * A job another database left under that id is detected and replaced (enqueueUnlessHeld).
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: Deps,
    private readonly specs: JobSpecs,
    private readonly opts: { pollMs: number; batchSize?: number },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** Relays one batch; returns how many rows it moved. */
  async relayOnce(): Promise<number> {
    return this.deps.db.orm.transaction(async (tx) => {
      // Claimed and marked in one statement; the marks commit only once the jobs are in Redis.
      const claimed = rowsOf<RawOutboxRow>(
        await tx.execute(sql`update outbox set relayed_at = ${this.deps.clock.now().toISOString()}::timestamptz
          where id in (select id from outbox where relayed_at is null order by id limit ${this.opts.batchSize ?? 200} for update skip locked)
          returning ${sql.raw(OUTBOX_COLUMNS)}`),
      );
      if (claimed.length === 0) return 0;
      const rows = claimed.map(outboxRowFrom).sort((a, b) => a.id - b.id);
      // Kept before the jobs exist, so a job this process's workers take at once finds its row.
      keepRelayedEvents(this.deps.db, rows);
      await this.enqueue(rows);
      return claimed.length;
    });
  }

  private async enqueue(rows: OutboxRow[]) {
    const { specs } = this;
    // Events, the bulk of the outbox, go in together: one look for their ids, one addBulk.
    const events = rows.filter((r) => r.kind === 'event');
    const commands = rows.filter((r) => r.kind !== 'event');
    await Promise.all([
      events.length === 0
        ? undefined
        : enqueueManyUnlessHeld(
            specs.eventQueue,
            // Crashing after the enqueue but before the commit relays a row again: its job, then
            // already run, is told apart from a stale one by the row's dispatch mark.
            events.map((r) => ({ spec: specs.event(r.id, r.type), stillWanted: async () => r.dispatchedAt === null })),
          ),
      ...commands.map(async (r) => {
        // Both kinds of jobs-table rows run on the generation queue (core/jobs/run-job.ts).
        if (r.type === 'generate_licenses' || r.type === 'bulk_licenses') {
          const jobId = Number(r.payload.job_id);
          await enqueueUnlessHeld(specs.generation(jobId), () => generationJobUnfinished(this.deps, jobId));
        } else if (r.type === 'redeliver_webhook') {
          const deliveryId = Number(r.payload.delivery_id);
          await enqueueUnlessHeld(specs.redelivery(deliveryId, r.id), () => deliveryPending(this.deps, deliveryId));
        } else {
          this.deps.log.error({ type: r.type, id: r.id }, 'unknown outbox command; skipping it');
        }
      }),
    ]);
  }

  private async run() {
    let failures = 0;
    while (this.running) {
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
        const wait = failures > 0 ? Math.min(this.opts.pollMs * 2 ** failures, 5000) : this.opts.pollMs;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  }
}
