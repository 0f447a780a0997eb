import type { Queue } from 'bullmq';
import type { Logger } from '../log.js';

/**
 * How long a BullMQ dispatch's lease on an event lasts unless renewed, and how often the run
 * holding it renews it. A run renews its leases for as long as it runs (a batch of slow receivers
 * and rate-limited notices may take minutes), so the length is only what a run that crashed leaves
 * behind: its events wait this long before a retry or the reconciler's job takes them. Three
 * renewals to a length, so one slow round trip (or a busy event loop) does not lose a lease. Once
 * the run is over its leases last `ms - renewEveryMs` (40 s) more at least: longer than the relay
 * keeps a row for its process's jobs (relayed-events.ts, 30 s), the copy that does not show the
 * dispatch mark.
 */
export const EVENT_LEASE = { ms: 60_000, renewEveryMs: 20_000 };
export type EventLeaseTiming = typeof EVENT_LEASE;

// Taken when free, or when this holder has it already (the same run asking again), and renewed.
const TAKE = `local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;
// Renewed only while this holder has it: a lease that lapsed and went to another run stays theirs.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;

// BullMQ's client interface leaves EVAL out; Keycord's queues run on ioredis (redis.ts), which has it.
type Evaluates<T> = { eval(script: string, numKeys: number, ...args: (string | number)[]): T };
type Pipeline = Evaluates<unknown> & { exec(): Promise<[Error | null, unknown][] | null> };

const leaseKey = (queue: Queue, installation: string, eventId: number) => queue.toKey(`lease-${installation}-${eventId}`);

/** Runs `script` on each event's lease in one round trip: its answers, in order (an error thrown). */
async function evalEach(queue: Queue, installation: string, script: string, eventIds: readonly number[], ...args: (string | number)[]): Promise<number[]> {
  const client = await queue.backend.client;
  const pipeline = client.pipeline() as unknown as Pipeline;
  for (const id of eventIds) pipeline.eval(script, 1, leaseKey(queue, installation, id), ...args);
  const answers = (await pipeline.exec()) ?? [];
  return eventIds.map((_, i) => {
    const [err, answer] = answers[i] ?? [new Error('no answer'), 0];
    if (err) throw err;
    return Number(answer);
  });
}

/**
 * The events one run of a BullMQ dispatch has in hand: those no other run has. A relay pass whose
 * commit failed after its jobs were in Redis relays its rows again, and the next pass's batches
 * differ from the first's (rows dispatched meanwhile left out, new ones in), so two batch jobs of
 * different ids may carry one event at once. The fan-out's hold keeps its deliveries to one POST
 * each; this keeps its listeners (the Discord notices) to one run: one round trip for a batch.
 *
 * The holder is the run (its job id and BullMQ lock token), not the job: BullMQ hands a job it
 * takes for stalled to another worker even when the first run is alive (its event loop blocked
 * past the lock), and the two must not both run the listeners. A retry after a failure takes only
 * what the failed run let go (`release`), the rest when its lease lapses.
 *
 * A lease is not let go once its event is dispatched (the mark says so; a stale copy of the row kept
 * by the relay does not), only when the dispatch fails and leaves it to a job of its own. `end`
 * (the run's `finally`) stops the renewals; what is held then lapses on its own.
 */
export class EventLeases {
  /** The leases this run renews: those it took, less those it let go or found lost. */
  private readonly held = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private renewal: Promise<void> | undefined;
  /**
   * When (performance.now()) the last take or renewal that confirmed every held lease was sent: each
   * lasts `timing.ms` from then at least, Redis having set its expiry after.
   */
  private confirmedAt = 0;

  constructor(
    private readonly queue: Queue,
    private readonly installation: string,
    private readonly holder: string,
    private readonly log: Logger,
    private readonly timing: EventLeaseTiming = EVENT_LEASE,
  ) {}

  /** Which of these events this run may dispatch (held from now on, and renewed). */
  async take(eventIds: readonly number[]): Promise<Set<number>> {
    const taken = new Set<number>();
    if (eventIds.length === 0) return taken;
    let answers: number[];
    const sentAt = performance.now();
    try {
      answers = await evalEach(this.queue, this.installation, TAKE, eventIds, this.holder, this.timing.ms);
    } catch (err) {
      // One answer failed after others were set: this run cannot tell which it holds, and its
      // retry (another token) would wait them out. Let them all go (only what it holds goes).
      await evalEach(this.queue, this.installation, RELEASE, eventIds, this.holder).catch(() => {});
      throw err;
    }
    eventIds.forEach((id, i) => {
      if (answers[i] === 1) taken.add(id);
    });
    // A run's first take confirms all it holds; a later one (the same run asking again) does not
    // confirm those taken before it.
    if (this.held.size === 0) this.confirmedAt = sentAt;
    for (const id of taken) this.held.add(id);
    if (this.held.size > 0 && !this.timer) {
      // Unref'd: a run's renewals never keep the process up.
      this.timer = setInterval(() => void this.renew(), this.timing.renewEveryMs);
      this.timer.unref();
    }
    return taken;
  }

  /**
   * Whether this run still holds the event's lease, asked right before its listeners run. Renewals
   * keep a lease while the run goes on, but a run whose event loop was blocked past the lease's
   * length (no renewal could run) may have lost it to the run that took its place, which runs the
   * listeners too. Confirmed within a renewal turn, it has two turns left at least: no round trip;
   * else it is renewed now (one round trip, with every lease of the run).
   */
  async stillHeld(eventId: number): Promise<boolean> {
    if (!this.held.has(eventId)) return false;
    if (performance.now() - this.confirmedAt < this.timing.renewEveryMs) return true;
    await this.renew();
    // A renewal that failed (Redis away) confirms nothing: held only while its last confirmation lasts.
    return this.held.has(eventId) && performance.now() - this.confirmedAt < this.timing.ms;
  }

  /** Lets an event go (its dispatch failed), unless another holder has it by now. */
  async release(eventId: number): Promise<void> {
    this.held.delete(eventId);
    if (this.held.size === 0) this.stopRenewing();
    await evalEach(this.queue, this.installation, RELEASE, [eventId], this.holder);
  }

  /** The run is over: no more renewals (its last step; nothing is taken after it). */
  end(): void {
    this.held.clear();
    this.stopRenewing();
  }

  private stopRenewing() {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round trip for all the run's leases; while one is in flight (a slow Redis), asking again waits for it. */
  private renew(): Promise<void> {
    this.renewal ??= this.renewOnce().finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  private async renewOnce() {
    if (this.held.size === 0) return;
    const ids = [...this.held];
    const sentAt = performance.now();
    try {
      const answers = await evalEach(this.queue, this.installation, RENEW, ids, this.holder, this.timing.ms);
      this.confirmedAt = sentAt;
      ids.forEach((id, i) => {
        // Let go or the run over meanwhile: not lost.
        if (answers[i] === 1 || !this.held.has(id)) return;
        this.held.delete(id);
        this.log.warn({ event: id }, 'event lease lost before its dispatch was over (the run was held up past it): its listeners are left to the job that has it');
      });
      if (this.held.size === 0) this.stopRenewing();
    } catch (err) {
      // Tried again at the next turn; the lease lasts three of them.
      this.log.warn({ events: ids.length, err: (err as Error).message }, 'could not renew event leases');
    }
  }
}
