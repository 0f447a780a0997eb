import { exponentialBackoff } from '../definitions/job-definition.js';

/**
 * Failed tries of jobs the local provider retries (events, generation jobs), kept in memory: a
 * restart forgets the count and tries again at once, as BullMQ's reconciler re-adds a lost job
 * with fresh attempts. What the job did is in the database either way.
 */
export class RetrySchedule {
  private readonly failures = new Map<number, { count: number; nextAt: number }>();

  constructor(private readonly policy: { attempts: number; backoffMs: number }) {}

  ready(id: number, now = Date.now()): boolean {
    const f = this.failures.get(id);
    return !f || f.nextAt <= now;
  }

  isLastTry(id: number): boolean {
    return (this.failures.get(id)?.count ?? 0) + 1 >= this.policy.attempts;
  }

  failed(id: number, now = Date.now()): void {
    const count = (this.failures.get(id)?.count ?? 0) + 1;
    this.failures.set(id, { count, nextAt: now + exponentialBackoff(count, this.policy.backoffMs) });
  }

  /**
   * Whether a failed try's wait is over: what can make a job ready that was not when last looked
   * for (a job that never failed is ready at once, and is looked for when it is added).
   */
  anyDue(now = Date.now()): boolean {
    for (const f of this.failures.values()) if (f.nextAt <= now) return true;
    return false;
  }

  /** Done, or given up on: the database says so now. */
  forget(id: number): void {
    this.failures.delete(id);
  }
}
