import type { Deps } from '../../core/deps.js';
import { markFailed } from '../../core/webhooks/deliver-webhooks.js';
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
 * Webhook deliveries of the local provider: when each one's next attempt is due, attempts under
 * way, and the same retry schedule as the BullMQ provider (WEBHOOK_ATTEMPTS, `webhookBackoff`).
 * The schedule is rebuilt from the database at start and on the reconcile interval — the next
 * attempt is the last attempt's time plus its backoff, as the reconciler computes it — so a
 * restart keeps it, and a delivery keeps its id (the `X-Keycord-Delivery` header) throughout.
 */
export class DeliverySchedule {
  private readonly slots = new Map<number, Slot>();
  private readonly running = new Map<number, Promise<void>>();
  /** Redeliveries asked for while an attempt was under way: they restart once it ends. */
  private readonly redeliverAfter = new Set<number>();
  /** When each delivery's schedule last changed here, so a load read before it does not undo it. */
  private readonly changedAt = new Map<number, number>();
  private changes = 0;

  constructor(
    private readonly deps: Deps,
    private readonly opts: { retryBaseMs: number; concurrency: number; turn?: ReceiverTurn | undefined },
  ) {}

  /**
   * Deliveries a dispatched event left to the schedule (their first attempt failed, or a re-run
   * fan-out found them attempted): due after the backoff of the attempts made, unless already scheduled.
   */
  added(deliveries: { id: number; attemptsMade: number }[], now = Date.now()): void {
    for (const { id, attemptsMade } of deliveries) {
      if (this.slots.has(id) || this.running.has(id)) continue;
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
   * them, read a page at a time, so none waits behind a thousand older ones that keep failing.
   */
  async load(): Promise<void> {
    const mark = this.changes;
    const seen = new Set<number>();
    for (let afterId = 0; ; ) {
      const page = await pendingDeliveryProgress(this.deps, { afterId, limit: LOAD_PAGE });
      for (const p of page) {
        seen.add(p.id);
        if (this.running.has(p.id) || this.changedSince(p.id, mark)) continue;
        if (p.attemptsMade >= WEBHOOK_ATTEMPTS) {
          // The last attempt was recorded but the process stopped before giving up on it.
          await markFailed(this.deps, p.id);
          this.slots.delete(p.id);
        } else {
          this.slots.set(p.id, { dueAt: this.dueAt(p), attemptsMade: p.attemptsMade });
        }
      }
      if (page.length < LOAD_PAGE) break;
      afterId = page[page.length - 1]!.id;
    }
    // Every pending delivery was read: a slot the database no longer calls pending is done.
    for (const id of this.slots.keys()) if (!seen.has(id) && !this.changedSince(id, mark)) this.slots.delete(id);
    // Marks at or before this load cannot outdate a later one.
    for (const [id, at] of this.changedAt) if (at <= mark) this.changedAt.delete(id);
  }

  /** Starts the attempts that are due, up to the concurrency; they run on their own. */
  startDue(now = Date.now()): void {
    for (const [id, slot] of this.slots) {
      if (this.running.size >= this.opts.concurrency) return;
      if (slot.dueAt > now) continue;
      this.slots.delete(id);
      this.running.set(
        id,
        this.attempt(id, slot).finally(() => this.running.delete(id)),
      );
    }
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
    this.slots.set(id, slot);
    this.touch(id);
  }

  private touch(id: number) {
    this.changedAt.set(id, ++this.changes);
  }

  private changedSince(id: number, mark: number): boolean {
    return (this.changedAt.get(id) ?? 0) > mark;
  }
}
