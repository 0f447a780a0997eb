/** Job: one webhook delivery attempt, retried on the webhook schedule (about 24 h). */
import { DelayedError, type Job } from 'bullmq';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { attemptDelivery, markFailed } from '../../core/webhooks/deliver-webhooks.js';
import type { HandlerContext } from '../handlers.js';
import type { ReceiverTurn } from '../receiver-turns.js';
import { isLastAttempt, owned, type JobDefinition } from './job-definition.js';

const deliverWebhookPayload = z.object({
  delivery_id: z.number().int(),
  /** Times in a row its receiver had no turn for it (busyPostponeMs). */
  busy: z.number().int().min(0).max(1000).optional(),
  ...owned,
});
export const deliveryJobId = (installation: string, deliveryId: number) => `dlv-${installation}-${deliveryId}`;
/** A seller's redelivery is new work for the same delivery: an id of its own, per request. */
export const redeliveryJobId = (installation: string, deliveryId: number, outboxId: number) => `dlv-${installation}-${deliveryId}-r${outboxId}`;

/**
 * Webhook work (an event's dispatch with its first attempts, a later attempt) that runs at once per
 * worker: it waits on receivers, not on this process, and the dispatches in flight share their
 * statements (coalesce.ts), so more at once means fewer, larger statements per event — measured on
 * bench:webhooks, 20 at once ran ~0.8 statements per event, 100 ran ~0.2.
 */
export const webhookConcurrency = (config: { workerConcurrency: number }) => Math.min(500, Math.max(10, config.workerConcurrency * 20));

/** About 24 h of retries: 5 s doubling (with jitter) up to 3 h apart, 19 attempts in all. */
export const WEBHOOK_ATTEMPTS = 19;
export const WEBHOOK_MAX_DELAY_MS = 3 * 3_600_000;

/** The delay before the attempt after `attemptsMade`, without jitter. */
export function webhookDelay(attemptsMade: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), WEBHOOK_MAX_DELAY_MS);
}

export function webhookBackoff(attemptsMade: number, baseMs: number): number {
  return Math.round(webhookDelay(attemptsMade, baseMs) * (0.8 + Math.random() * 0.4));
}

/**
 * How long a delivery whose receiver had no turn for it (receiver-turns.ts) waits before it asks
 * again, for its `busy`-th time in a row: 1.5 s doubling up to a minute, with jitter. No attempt was
 * made, so a receiver that hangs only a moment delays its deliveries as little; one that keeps
 * hanging has its queued deliveries ask less and less often (10,000 of them about 170 reads a
 * second at the cap), instead of each re-reading its row every few seconds while it hangs.
 */
export function busyPostponeMs(busy: number): number {
  return Math.round(Math.min(60_000, 1500 * 2 ** Math.min(6, Math.max(0, busy - 1))) * (0.75 + Math.random() * 0.5));
}

/**
 * One attempt; after the last one that fails, the delivery is marked failed. `busy` (its receiver
 * had no turn for it) is no attempt: the caller asks again a little later, with the same attempts.
 */
export async function deliverWebhookTry(deps: Deps, deliveryId: number, opts: { lastTry: boolean; turn?: ReceiverTurn | undefined }) {
  const outcome = await attemptDelivery(deps, deliveryId, { turn: opts.turn });
  if (outcome === 'retry' && opts.lastTry) await markFailed(deps, deliveryId);
  return outcome;
}

export const deliverWebhookJob: JobDefinition = {
  queue: 'webhooks',
  // Deliveries wait on receivers, not on this process: many at once.
  concurrency: webhookConcurrency,
  process: async (ctx: HandlerContext, job: Job, token?: string) => {
    const { delivery_id, busy = 0 } = deliverWebhookPayload.parse(job.data);
    const outcome = await deliverWebhookTry(ctx.deps, delivery_id, { lastTry: isLastAttempt(job), turn: ctx.receiverTurns?.take });
    if (outcome === 'busy') {
      // Put off, not failed: a delayed move keeps the job's attempts as they were.
      await job.updateData({ ...job.data, busy: Math.min(1000, busy + 1) });
      await job.moveToDelayed(Date.now() + busyPostponeMs(busy + 1), token);
      throw new DelayedError();
    }
    // `held`: another attempt has the delivery, and hands it to the schedule if it fails (or the
    // reconciler adds its job again, from the attempts recorded): this job is over.
    if (outcome !== 'retry') return { outcome };
    // Thrown so BullMQ retries with the webhook backoff, until the last attempt.
    throw new Error(`delivery ${delivery_id} failed; ${isLastAttempt(job) ? 'giving up' : 'will retry'}`);
  },
};
