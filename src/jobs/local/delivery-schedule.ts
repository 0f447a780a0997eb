import type { Deps } from '../../core/deps.js';
import { ATTEMPT_HOLD_MS, markFailed } from '../../core/webhooks/deliver-webhooks.js';
import { busyPostponeMs, deliverWebhookTry, WEBHOOK_ATTEMPTS, webhookBackoff, webhookDelay } from '../definitions/deliver-webhook.js';
import type { ReceiverTurn } from '../receiver-turns.js';
import { pendingDeliveryProgress, type DeliveryProgress } from './pending-deliveries.js';

interface Slot {
  dueAt: number;
  attemptsMade: number;
  /** Times in a row its receiver had no turn for it (busyPostponeMs). */
  busy?: number;
}

/** Pending deliveries read back from the database per statement (a load reads every page). */
const LOAD_PAGE = 1000;

/**
 * Deliveries the schedule holds in memory at most: the ones due soonest. The rest stay in the
 * database only, and the next load takes them in once they come due. A receiver down for a day
 * leaves hundreds of thousands pending: 300,000 held took 31 MB of heap (bench:schedule), and each
 * pass went over all of them; this many take about 1 MB.
 */
export const MAX_SCHEDULED = 10_000;

interface Candidate {
  id: number;
  slot: Slot;
}

/** The `capacity` soonest due of `candidates`, in due order (ties by id: oldest first). */
function soonestDue(candidates: Candidate[], capacity: number): Candidate[] {
  candidates.sort((a, b) => a.slot.dueAt - b.slot.dueAt || a.id - b.id);
  if (candidates.length > capacity) candidates.length = capacity;
  return candidates;
}

/**
 * Webhook deliveries of the local provider: when each one's next attempt is due, attempts under
 * way, and the same retry schedule as the BullMQ provider (WEBHOOK_ATTEMPTS, `webhookBackoff`).
 * The schedule is rebuilt from the database at start and on the reconcile interval — the next
 * attempt is the last attempt's time plus its backoff, as the reconciler computes it — so a
 * restart keeps it, and a delivery keeps its id (the `X-Keycord-Delivery` header) throughout.
 * It holds the `capacity` (MAX_SCHEDULED) soonest due; when one it left in the database comes due,
 * `wantsLoad` says so, and the next load takes it in.
 */
export class DeliverySchedule {
  private readonly slots = new Map<number, Slot>();
  private readonly running = new Map<number, Promise<void>>();
  /** Redeliveries asked for while an attempt was under way: they restart once it ends. */
  private readonly redeliverAfter = new Set<number>();
  /** When each delivery's schedule last changed here, so a load read before it does not undo it. */
  private readonly changedAt = new Map<number, number>();
  private changes = 0;
  /**
   * When the soonest due of the pending deliveries left in the database (not held here: over the
   * capacity) comes due; Infinity while every one is held here.
   */
  private leftDueAt = Infinity;
  /**
   * No slot held here is due before this (a lower bound: it may have been started or moved on
   * since), so a pass before it need not look at any of them.
   */
  private earliestDueAt = Infinity;
  private readonly capacity: number;

  constructor(
    private readonly deps: Deps,
    private readonly opts: { retryBaseMs: number; concurrency: number; turn?: ReceiverTurn | undefined; capacity?: number },
  ) {
    this.capacity = opts.capacity ?? MAX_SCHEDULED;
  }

  /** Deliveries held here now (waiting for their time; not the attempts under way). */
  get scheduled(): number {
    return this.slots.size;
  }

  /**
   * Whether a load would find work this schedule lacks: a delivery left in the database (over the
   * capacity) has come due, and none held here is due (not yet started: a load then would only read
   * what is held again).
   */
  wantsLoad(now = Date.now()): boolean {
    if (now < this.leftDueAt) return false;
    if (now < this.earliestDueAt) return true;
    for (const slot of this.slots.values()) if (slot.dueAt <= now) return false;
    return true;
  }

  /**
   * Deliveries a dispatched event left to the schedule (their first attempt failed, or a re-run
   * fan-out found them attempted): due after the backoff of the attempts made, unless already scheduled
   * with as many attempts known.
   */
  added(deliveries: { id: number; attemptsMade: number }[], now = Date.now()): void {
    for (const { id, attemptsMade } of deliveries) {
      // A slot already here stays, unless the dispatch has seen more attempts than it knows of
      // (a re-run dispatch just made one and failed): then that attempt's backoff is what counts.
      const held = this.slots.get(id);
      if (this.running.has(id) || (held && held.attemptsMade >= attemptsMade)) continue;
      this.set(id, { dueAt: attemptsMade > 0 ? now + webhookBackoff(attemptsMade, this.opts.retryBaseMs) : 0, attemptsMade });
    }
  }

  /** The seller asked for it again: a fresh schedule, starting now. */
  redelivered(id: number): void {
    if (this.running.has(id)) this.redeliverAfter.add(id);
    else this.set(id, { dueAt: 0, attemptsMade: 0 });
  }

  /**
   * Rebuilds the schedule from the database (pending deliveries, their attempts and times): all of
   * them are read, a page at a time, so none waits behind a thousand older ones that keep failing,
   * and the `capacity` soonest due are kept (memory holds about twice that while it reads). A slot
   * changed here since the load began is newer than what it read, and stays as it is. `stopped`
   * ends it between pages, changing nothing.
   */
  async load(opts: { stopped?: () => boolean } = {}): Promise<void> {
    const mark = this.changes;
    // Deliveries left in the database before now are read by this load; any left while it reads count from here.
    const leftBefore = this.leftDueAt;
    this.leftDueAt = Infinity;
    let candidates: Candidate[] = [];
    let truncated = false;
    const keepSoonest = () => {
      if (candidates.length > this.capacity) truncated = true;
      candidates = soonestDue(candidates, this.capacity);
    };
    try {
      for (let afterId = 0; ; ) {
        if (opts.stopped?.()) {
          this.leftDueAt = Math.min(this.leftDueAt, leftBefore);
          return;
        }
        const page = await pendingDeliveryProgress(this.deps, { afterId, limit: LOAD_PAGE });
        for (const p of page) {
          if (this.running.has(p.id) || this.changedSince(p.id, mark)) continue;
          if (p.attemptsMade >= WEBHOOK_ATTEMPTS) {
            // The last attempt was recorded but the process stopped before giving up on it.
            await markFailed(this.deps, p.id);
          } else {
            candidates.push({ id: p.id, slot: { dueAt: this.dueAt(p), attemptsMade: p.attemptsMade } });
          }
        }
        if (candidates.length >= 2 * this.capacity) keepSoonest();
        if (page.length < LOAD_PAGE) break;
        afterId = page[page.length - 1]!.id;
      }
    } catch (err) {
      this.leftDueAt = Math.min(this.leftDueAt, leftBefore);
      throw err;
    }
    // Every pending delivery was read: what this schedule holds now is the slots changed since the
    // load began (newer than the read), then the soonest due of the rest. A slot the database no
    // longer calls pending is done, and gone with the old map.
    const held = new Map<number, Slot>();
    for (const [id, slot] of this.slots) if (this.changedSince(id, mark)) held.set(id, slot);
    const room = Math.max(0, this.capacity - held.size);
    // Read before a change made here since the load began (an attempt, a redelivery): the change is newer.
    const fresh = candidates.filter((c) => !held.has(c.id) && !this.running.has(c.id) && !this.changedSince(c.id, mark));
    if (fresh.length > room) truncated = true;
    const kept = soonestDue(fresh, room);
    for (const c of kept) held.set(c.id, c.slot);
    this.slots.clear();
    this.earliestDueAt = Infinity;
    for (const [id, slot] of held) {
      this.slots.set(id, slot);
      this.earliestDueAt = Math.min(this.earliestDueAt, slot.dueAt);
    }
    // Those over the capacity are due no sooner than the last one kept.
    if (truncated) this.leftDueAt = Math.min(this.leftDueAt, kept.length > 0 ? kept[kept.length - 1]!.slot.dueAt : 0);
    // Marks at or before this load cannot outdate a later one.
    for (const [id, at] of this.changedAt) if (at <= mark) this.changedAt.delete(id);
  }

  /** Starts the attempts that are due, up to the concurrency; they run on their own. */
  startDue(now = Date.now()): void {
    if (now < this.earliestDueAt) return;
    let earliest = Infinity;
    for (const [id, slot] of this.slots) {
      if (this.running.size >= this.opts.concurrency) {
        // Not all looked at: the next pass looks again.
        earliest = 0;
        break;
      }
      if (slot.dueAt > now) {
        earliest = Math.min(earliest, slot.dueAt);
        continue;
      }
      this.slots.delete(id);
      this.running.set(
        id,
        this.attempt(id, slot).finally(() => this.running.delete(id)),
      );
    }
    this.earliestDueAt = earliest;
  }

  /** Waits for the attempts under way (the provider is closing). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private async attempt(id: number, slot: Slot): Promise<void> {
    const attemptsMade = slot.attemptsMade + 1;
    const lastTry = attemptsMade >= WEBHOOK_ATTEMPTS;
    let next: Slot | null = null;
    try {
      const outcome = await deliverWebhookTry(this.deps, id, { lastTry, turn: this.opts.turn });
      // Its receiver is busy (a slow origin's share in use): no attempt made, asked again later.
      const busy = (slot.busy ?? 0) + 1;
      if (outcome === 'busy') next = { dueAt: Date.now() + busyPostponeMs(busy), attemptsMade: slot.attemptsMade, busy };
      if (outcome === 'retry' && !lastTry) next = { dueAt: Date.now() + webhookBackoff(attemptsMade, this.opts.retryBaseMs), attemptsMade };
      if (outcome === 'retry') this.deps.log.warn({ delivery: id, attempt: attemptsMade }, lastTry ? 'webhook delivery failed; giving up' : 'webhook delivery failed; will retry');
      // Another attempt has it (a process that had the runner lock before this one, or a first
      // attempt): what this slot says is out of date once that attempt is recorded. The delivery
      // is left to the database, and read back from its recorded attempts after the hold.
      if (outcome === 'held') this.leftDueAt = Math.min(this.leftDueAt, Date.now() + ATTEMPT_HOLD_MS);
    } catch (err) {
      // Nothing was recorded (the database was away): the same attempt again after a backoff.
      this.deps.log.warn({ delivery: id, err: (err as Error).message }, 'webhook delivery could not be attempted; will retry');
      next = { dueAt: Date.now() + webhookBackoff(attemptsMade, this.opts.retryBaseMs), attemptsMade: slot.attemptsMade };
    }
    if (this.redeliverAfter.delete(id)) next = { dueAt: 0, attemptsMade: 0 };
    if (next) this.set(id, next);
    else this.touch(id);
  }

  private dueAt(p: DeliveryProgress): number {
    if (p.attemptsMade === 0 || !p.lastAttemptAt) return 0;
    return p.lastAttemptAt.getTime() + webhookDelay(p.attemptsMade, this.opts.retryBaseMs);
  }

  private set(id: number, slot: Slot) {
    if (!this.slots.has(id) && this.slots.size >= this.capacity) {
      // Full: it stays in the database (pending, with its attempts recorded), from which a load
      // that begins after this change reads it again. Marked all the same, so that a load already
      // reading does not put back what it read before the change.
      this.leftDueAt = Math.min(this.leftDueAt, slot.dueAt);
      this.touch(id);
      return;
    }
    this.slots.set(id, slot);
    this.earliestDueAt = Math.min(this.earliestDueAt, slot.dueAt);
    this.touch(id);
  }

  private touch(id: number) {
    this.changedAt.set(id, ++this.changes);
  }

  private changedSince(id: number, mark: number): boolean {
    return (this.changedAt.get(id) ?? 0) > mark;
  }
}
