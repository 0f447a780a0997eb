import { asc, inArray, isNull } from 'drizzle-orm';
import { outbox } from '../db/schema.js';
import type { Deps } from '../core/deps.js';
import { deliveryPending, generationJobUnfinished } from '../core/jobs/unfinished-work.js';
import { enqueueUnlessHeld } from './enqueue.js';
import type { JobSpecs } from './job-specs.js';

type OutboxRow = typeof outbox.$inferSelect;

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
      const rows = await tx
        .select()
        .from(outbox)
        .where(isNull(outbox.relayedAt))
        .orderBy(asc(outbox.id))
        .limit(this.opts.batchSize ?? 200)
        .for('update', { skipLocked: true });
      if (rows.length === 0) return 0;
      await this.enqueue(rows);
      await tx.update(outbox).set({ relayedAt: this.deps.clock.now() }).where(inArray(outbox.id, rows.map((r) => r.id)));
      return rows.length;
    });
  }

  private async enqueue(rows: OutboxRow[]) {
    const { specs } = this;
    await Promise.all(
      rows.map(async (r) => {
        if (r.kind === 'event') {
          // Crashing after the enqueue but before the commit relays a row again: its job, then
          // already run, is told apart from a stale one by the row's dispatch mark.
          await enqueueUnlessHeld(specs.event(r.id, r.type), async () => r.dispatchedAt === null);
        } else if (r.type === 'generate_licenses') {
          const jobId = Number(r.payload.job_id);
          await enqueueUnlessHeld(specs.generation(jobId), () => generationJobUnfinished(this.deps, jobId));
        } else if (r.type === 'redeliver_webhook') {
          const deliveryId = Number(r.payload.delivery_id);
          await enqueueUnlessHeld(specs.redelivery(deliveryId, r.id), () => deliveryPending(this.deps, deliveryId));
        } else {
          this.deps.log.error({ type: r.type, id: r.id }, 'unknown outbox command; skipping it');
        }
      }),
    );
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
