/**
 * One try of each job, whichever provider runs it (BullMQ's workers or the local provider): the
 * provider decides when to try and whether this is the last try; what a try does, and what the
 * last failed one records in the database, is the same for both.
 */
import { and, isNotNull, lt, sql } from 'drizzle-orm';
import { idempotencyKeys, outbox } from '../db/schema.js';
import type { Deps } from '../core/deps.js';
import { failGenerationJob, runGenerationJob, type GenerationProgress } from '../core/jobs/run-generation-job.js';
import { expirySweep } from '../core/licenses/expiry-sweep.js';
import { attemptDelivery, fanOutEvent, markDispatched, markFailed } from '../core/webhooks/deliver-webhooks.js';
import type { JobsConfig } from '../config.js';

/** Listeners other parts of Keycord (the Discord bot) attach to events as they are dispatched. */
export type EventListener = (event: typeof outbox.$inferSelect) => Promise<void>;

/**
 * An outbox event: one delivery per subscribed webhook (handed to `sendDeliveries`), then the
 * in-process listeners, then the dispatch mark. A last try that fails still marks it, so nothing
 * keeps looking for it.
 */
export async function dispatchEventTry(
  deps: Deps,
  outboxId: number,
  opts: { listeners: readonly EventListener[]; sendDeliveries: (deliveryIds: number[]) => Promise<void>; lastTry: boolean },
): Promise<{ deliveries: number }> {
  try {
    const { event, deliveries } = await fanOutEvent(deps, outboxId);
    if (deliveries.length) await opts.sendDeliveries(deliveries);
    if (event) for (const listener of opts.listeners) await listener(event);
    await markDispatched(deps, outboxId);
    return { deliveries: deliveries.length };
  } catch (err) {
    if (opts.lastTry) await markDispatched(deps, outboxId);
    throw err;
  }
}

/** One delivery attempt; after the last one that fails, the delivery is marked failed. */
export async function deliverWebhookTry(deps: Deps, deliveryId: number, opts: { lastTry: boolean }) {
  const outcome = await attemptDelivery(deps, deliveryId);
  if (outcome === 'retry' && opts.lastTry) await markFailed(deps, deliveryId);
  return outcome;
}

/**
 * Runs a generation job from its committed count. `done: false` means it paused between batches
 * (the provider is stopping) and the next try carries on; a last try that throws fails the job.
 */
export async function generateLicensesTry(
  deps: Deps,
  config: Pick<JobsConfig, 'generateBatchSize'>,
  jobId: number,
  opts: { lastTry: boolean; shouldPause: () => boolean; onProgress?: GenerationProgress },
) {
  try {
    return await runGenerationJob(deps, jobId, {
      batchSize: config.generateBatchSize,
      shouldPause: opts.shouldPause,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } catch (err) {
    if (opts.lastTry) await failGenerationJob(deps, jobId, (err as Error).message);
    throw err;
  }
}

/** The periodic pass: expiry notices, and forgetting what is no longer needed. */
export async function maintenanceTry(deps: Deps, config: Pick<JobsConfig, 'expiryNoticeDays'>) {
  const swept = await expirySweep(deps, { noticeDays: config.expiryNoticeDays });
  const now = deps.clock.now().getTime();
  await deps.db.orm.delete(outbox).where(and(isNotNull(outbox.relayedAt), lt(outbox.relayedAt, new Date(now - 7 * 86_400_000))));
  await deps.db.orm.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, sql`${new Date(now - 86_400_000).toISOString()}::timestamptz`));
  return swept;
}
