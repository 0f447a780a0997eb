/** Job: one webhook delivery attempt, retried on the webhook schedule (about 24 h). */
import type { Job } from 'bullmq';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { attemptDelivery, markFailed } from '../../core/webhooks/deliver-webhooks.js';
import type { HandlerContext } from '../handlers.js';
import { isLastAttempt, owned, type JobDefinition } from './job-definition.js';

const deliverWebhookPayload = z.object({ delivery_id: z.number().int(), ...owned });
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

/** One attempt; after the last one that fails, the delivery is marked failed. */
export async function deliverWebhookTry(deps: Deps, deliveryId: number, opts: { lastTry: boolean }) {
  const outcome = await attemptDelivery(deps, deliveryId);
  if (outcome === 'retry' && opts.lastTry) await markFailed(deps, deliveryId);
  return outcome;
}

export const deliverWebhookJob: JobDefinition = {
  queue: 'webhooks',
  // Deliveries wait on receivers, not on this process: many at once.
  concurrency: webhookConcurrency,
  process: async (ctx: HandlerContext, job: Job) => {
    const { delivery_id } = deliverWebhookPayload.parse(job.data);
    const outcome = await deliverWebhookTry(ctx.deps, delivery_id, { lastTry: isLastAttempt(job) });
    if (outcome !== 'retry') return { outcome };
    // Thrown so BullMQ retries with the webhook backoff, until the last attempt.
    throw new Error(`delivery ${delivery_id} failed; ${isLastAttempt(job) ? 'giving up' : 'will retry'}`);
  },
};
