import type { Queue } from 'bullmq';
import type { Deps } from '../core/deps.js';
import {
  DELIVERY_PAGE,
  deliveryPending,
  eventUndispatched,
  generationJobUnfinished,
  pendingDeliveries,
  undispatchedEvents,
  unfinishedGenerationJobs,
  type PendingDelivery,
} from '../core/jobs/unfinished-work.js';
import { enqueueManyUnlessHeld, enqueueUnlessHeld } from './enqueue.js';
import type { JobSpecs } from './job-specs.js';
import { WEBHOOK_ATTEMPTS, webhookDelay } from './definitions/deliver-webhook.js';

export interface ReconcileCounts {
  generation: number;
  deliveries: number;
  events: number;
}

/**
 * The database is the truth about unfinished work; Redis only carries it. Redis restarted without
 * its data (or flushed, or evicting) loses jobs silently, so the worker role compares the two at
 * start, after every reconnect and on an interval, and adds again what the queue no longer holds
 * (or holds only as finished while the database still calls it unfinished: a last try whose
 * give-up could not be written): generation jobs queued or running (they resume from their
 * committed count), every pending webhook delivery (at its next attempt time), and relayed events
 * whose fan-out never ran. Unrelayed outbox rows are the relay's. Job ids are deterministic, so a
 * pass racing the normal path adds nothing twice.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<ReconcileCounts | undefined> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: Deps,
    private readonly specs: JobSpecs,
    private readonly opts: { everyMs: number; webhookRetryBaseMs: number },
  ) {}

  start(): void {
    this.stopped = false;
    this.trigger();
    this.timer = setInterval(() => this.trigger(), this.opts.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pass;
  }

  /** Starts a pass unless one is running; failures (Redis or the database away) wait for the next. */
  trigger(): void {
    if (this.pass || this.stopped) return;
    this.pass = this.reconcileOnce()
      .then((counts) => {
        if (counts.generation + counts.deliveries + counts.events > 0) this.deps.log.warn({ ...counts }, 'reconciler re-enqueued work the queue had lost');
        return counts;
      })
      .catch((err: Error) => {
        this.deps.log.warn({ err: err.message }, 'reconciler pass failed; will try again');
        return undefined;
      })
      .finally(() => {
        this.pass = undefined;
      });
  }

  async reconcileOnce(): Promise<ReconcileCounts> {
    const { deps, specs } = this;
    const counts: ReconcileCounts = { generation: 0, deliveries: 0, events: 0 };
    for (const jobId of await unfinishedGenerationJobs(deps)) {
      if (await enqueueUnlessHeld(specs.generation(jobId), () => generationJobUnfinished(deps, jobId))) counts.generation++;
    }
    // Every pending delivery, a page at a time (keyset), each page's jobs looked for in one round
    // trip: the oldest may all be held by delayed retries while a later one's job is lost.
    for (let afterId = 0; ; ) {
      const page = await pendingDeliveries(deps, { afterId, limit: DELIVERY_PAGE });
      if (page.length === 0) break;
      const jobs = page.map((d) => ({ spec: this.deliverySpec(d), stillWanted: () => deliveryPending(deps, d.id) }));
      counts.deliveries += await enqueueManyUnlessHeld(jobs[0]!.spec.queue, jobs);
      if (page.length < DELIVERY_PAGE || this.stopped) break;
      afterId = page[page.length - 1]!.id;
    }
    const events = await undispatchedEvents(deps);
    // Read after the events: a batch that is no longer live by now has marked (or handed to a job
    // of their own) the events it carried, which the look below sees.
    const carried = events.length ? await eventsInLiveBatches(specs.eventQueue) : new Set<number>();
    for (const event of events) {
      // An event batch still queued or running has it in hand (its id names no single event).
      if (carried.has(event.id)) continue;
      // Its batch may have finished between the two reads: dispatched since, it needs nothing.
      if (!(await eventUndispatched(deps, event.id))) continue;
      if (await enqueueUnlessHeld(specs.event(event.id, event.type), () => eventUndispatched(deps, event.id))) counts.events++;
    }
    return counts;
  }

  /**
   * A delivery belongs to its latest redelivery's job when the seller asked for one. Re-added, it
   * keeps its retry schedule: the next attempt when the last one's backoff ends (attempt times are
   * the database's, compared with the wall clock), with the attempts it has left.
   */
  private deliverySpec(d: PendingDelivery) {
    const dueAt = d.lastAttemptAt ? d.lastAttemptAt.getTime() + webhookDelay(d.attempts, this.opts.webhookRetryBaseMs) : 0;
    const opts = { delayMs: dueAt - Date.now(), attemptsLeft: WEBHOOK_ATTEMPTS - d.attempts };
    return d.redeliveryOutboxId === null ? this.specs.delivery(d.id, opts) : this.specs.redelivery(d.id, d.redeliveryOutboxId, { delayMs: opts.delayMs });
  }
}

/** The events carried by the event batches waiting, delayed or running (BullMQ job states). */
async function eventsInLiveBatches(queue: Queue): Promise<Set<number>> {
  const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
  const ids = new Set<number>();
  for (const job of jobs) {
    const carried = (job?.data as { outbox_ids?: unknown } | undefined)?.outbox_ids;
    if (Array.isArray(carried)) for (const id of carried) ids.add(Number(id));
  }
  return ids;
}
