import type { Queue } from 'bullmq';
import type { Deps } from '../core/deps.js';
import {
  RECONCILE_PAGE,
  deliveryPending,
  eventUndispatched,
  eventsUndispatched,
  generationJobUnfinished,
  keysetPages,
  pendingDeliveries,
  undispatchedEvents,
  unfinishedGenerationJobs,
  type PendingDelivery,
} from '../core/jobs/unfinished-work.js';
import { markFailed } from '../core/webhooks/deliver-webhooks.js';
import { enqueueManyUnlessHeld, type JobSpec } from './enqueue.js';
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
 * pass racing the normal path adds nothing twice. Each list is read whole, a page at a time
 * (`pageSize` rows, RECONCILE_PAGE by default), each page's jobs looked for in
 * one round trip: the oldest may all be held (delayed retries, live batches) while later ones are lost.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<ReconcileCounts | undefined> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: Deps,
    private readonly specs: JobSpecs,
    private readonly opts: { everyMs: number; webhookRetryBaseMs: number; pageSize?: number },
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

  /** One pass over every list; a stopped reconciler reads no further page. */
  async reconcileOnce(): Promise<ReconcileCounts> {
    const { deps, specs } = this;
    const generation = await this.everyPage(
      (page) => unfinishedGenerationJobs(deps, page),
      (jobId) => jobId,
      async (jobIds) => jobIds.map((jobId) => ({ spec: specs.generation(jobId), stillWanted: () => generationJobUnfinished(deps, jobId) })),
    );
    const deliveries = await this.everyPage(
      (page) => pendingDeliveries(deps, page),
      idOf,
      async (page) => {
        // Its schedule's last attempt was recorded but its worker stopped before giving up on it: given
        // up on here, as that try would have, rather than re-added for an attempt past the cap.
        for (const d of page) if (d.attempts >= WEBHOOK_ATTEMPTS) await markFailed(deps, d.id);
        return page.filter((d) => d.attempts < WEBHOOK_ATTEMPTS).map((d) => ({ spec: this.deliverySpec(d), stillWanted: () => deliveryPending(deps, d.id) }));
      },
    );
    const events = await this.everyPage(
      (page) => undispatchedEvents(deps, page),
      idOf,
      async (page) => {
        // Read after the page: a batch that is no longer live by now has marked (or handed to a job
        // of their own) the events it carried, which the look below sees.
        const carried = await eventsInLiveBatches(specs.eventQueue);
        // An event batch still queued or running has it in hand (its id names no single event).
        const loose = page.filter((event) => !carried.has(event.id));
        // Its batch may have finished between the two reads: dispatched since, it needs nothing
        // (one look for the page's events).
        const undispatched = await eventsUndispatched(deps, loose.map(idOf));
        return loose.filter((event) => undispatched.has(event.id)).map((event) => ({ spec: specs.event(event.id, event.type), stillWanted: () => eventUndispatched(deps, event.id) }));
      },
    );
    return { generation, deliveries, events };
  }

  /**
   * Reads a list whole, a page at a time (keysetPages), until the reconciler is stopped. Each page's jobs (`jobsFor`,
   * all of one queue) are looked for in one round trip and the missing ones added in another
   * (enqueueManyUnlessHeld). Returns how many it added.
   */
  private async everyPage<T>(
    read: (page: { afterId: number; limit: number }) => Promise<T[]>,
    keyOf: (row: T) => number,
    jobsFor: (page: T[]) => Promise<{ spec: JobSpec; stillWanted: () => Promise<boolean> }[]>,
  ): Promise<number> {
    let added = 0;
    for await (const page of keysetPages(read, keyOf, { limit: this.opts.pageSize ?? RECONCILE_PAGE, stopped: () => this.stopped })) {
      const jobs = await jobsFor(page);
      if (jobs.length > 0) added += await enqueueManyUnlessHeld(jobs[0]!.spec.queue, jobs);
    }
    return added;
  }

  /**
   * A delivery belongs to its latest redelivery's job when the seller asked for one. Re-added, it
   * keeps its retry schedule: the next attempt when the last one's backoff ends (attempt times are
   * the database's, compared with the wall clock), with the attempts its schedule has left (a
   * redelivery's counted from the redelivery, as the local provider counts them).
   */
  private deliverySpec(d: PendingDelivery) {
    const dueAt = d.lastAttemptAt && d.attempts > 0 ? d.lastAttemptAt.getTime() + webhookDelay(d.attempts, this.opts.webhookRetryBaseMs) : 0;
    const opts = { delayMs: dueAt - Date.now(), attemptsLeft: WEBHOOK_ATTEMPTS - d.attempts };
    return d.redeliveryOutboxId === null ? this.specs.delivery(d.id, opts) : this.specs.redelivery(d.id, d.redeliveryOutboxId, opts);
  }
}

const idOf = (row: { id: number }) => row.id;

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
