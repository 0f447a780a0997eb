import type { Job } from 'bullmq';
import { and, isNotNull, lt, sql } from 'drizzle-orm';
import { idempotencyKeys, outbox } from '../db/schema.js';
import type { Deps } from '../core/deps.js';
import { failGenerationJob, runGenerationJob } from '../core/jobs/run-generation-job.js';
import { expirySweep } from '../core/licenses/expiry-sweep.js';
import { attemptDelivery, fanOutEvent, markFailed } from '../core/webhooks/deliver-webhooks.js';
import type { JobsConfig } from '../config.js';
import { deliverWebhookPayload, dispatchEventPayload, generateLicensesPayload, jobIds, WEBHOOK_ATTEMPTS, type Queues } from './queues.js';

/** Listeners other parts of Keycord (the Discord bot) attach to events as they are dispatched. */
export type EventListener = (event: typeof outbox.$inferSelect) => Promise<void>;

export interface HandlerContext {
  deps: Deps;
  queues: Queues;
  config: JobsConfig;
  eventListeners: EventListener[];
  generationProgress: ((jobId: number, generated: number, count: number) => void)[];
}

const isLastAttempt = (job: Job) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/** An outbox event: one delivery job per subscribed webhook, then the in-process listeners. */
export async function dispatchEvent(ctx: HandlerContext, job: Job) {
  const { outbox_id } = dispatchEventPayload.parse(job.data);
  const { event, deliveries } = await fanOutEvent(ctx.deps, outbox_id);
  if (deliveries.length) {
    await ctx.queues.webhooks.addBulk(
      deliveries.map((id) => ({
        name: 'deliver',
        data: { delivery_id: id },
        opts: { jobId: jobIds.delivery(id), attempts: WEBHOOK_ATTEMPTS, backoff: { type: 'custom' } },
      })),
    );
  }
  if (event) for (const listener of ctx.eventListeners) await listener(event);
  return { deliveries: deliveries.length };
}

/** One attempt; a failure throws so BullMQ retries with the webhook backoff, until the last. */
export async function deliverWebhook(ctx: HandlerContext, job: Job) {
  const { delivery_id } = deliverWebhookPayload.parse(job.data);
  const outcome = await attemptDelivery(ctx.deps, delivery_id);
  if (outcome !== 'retry') return { outcome };
  if (isLastAttempt(job)) await markFailed(ctx.deps, delivery_id);
  throw new Error(`delivery ${delivery_id} failed; ${isLastAttempt(job) ? 'giving up' : 'will retry'}`);
}

export async function generateLicenses(ctx: HandlerContext, job: Job) {
  const { job_id } = generateLicensesPayload.parse(job.data);
  try {
    const result = await runGenerationJob(ctx.deps, job_id, ctx.config.generateBatchSize, async (generated, count) => {
      await job.updateProgress(Math.floor((generated / count) * 100));
      for (const listener of ctx.generationProgress) listener(job_id, generated, count);
    });
    return { status: 'job' in result && result.job ? result.job.status : 'gone' };
  } catch (err) {
    if (isLastAttempt(job)) await failGenerationJob(ctx.deps, job_id, (err as Error).message);
    throw err;
  }
}

/** The periodic pass: expiry notices, and forgetting what is no longer needed. */
export async function maintenance(ctx: HandlerContext) {
  const swept = await expirySweep(ctx.deps, { noticeDays: ctx.config.expiryNoticeDays });
  const now = ctx.deps.clock.now().getTime();
  await ctx.deps.db.orm.delete(outbox).where(and(isNotNull(outbox.relayedAt), lt(outbox.relayedAt, new Date(now - 7 * 86_400_000))));
  await ctx.deps.db.orm.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, sql`${new Date(now - 86_400_000).toISOString()}::timestamptz`));
  return swept;
}
