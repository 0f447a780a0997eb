/**
 * How often each kind of job is tried and how long it waits between tries, read by both job
 * providers (BullMQ's job options, the local provider's own schedule), so a job retries the same
 * way whichever runs it. Webhook deliveries have their own schedule: `webhookBackoff` in queues.ts.
 */
export const EVENT_RETRY = { attempts: 10, backoffMs: 1000 } as const;
export const GENERATION_RETRY = { attempts: 5, backoffMs: 2000 } as const;

/** BullMQ's `exponential` backoff: the delay before the try after `attemptsMade` failed ones. */
export function exponentialBackoff(attemptsMade: number, baseMs: number): number {
  return baseMs * 2 ** Math.max(0, attemptsMade - 1);
}
