/**
 * Job: dispatch an outbox event — one delivery per subscribed webhook, then the in-process
 * listeners (the Discord notices), then the dispatch mark.
 */
import type { Job } from 'bullmq';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { fanOutEvent, markDispatched } from '../../core/webhooks/deliver-webhooks.js';
import type { outbox } from '../../db/schema.js';
import type { HandlerContext } from '../handlers.js';
import { isLastAttempt, owned, type JobDefinition, type RetryPolicy } from './job-definition.js';

export const dispatchEventPayload = z.object({ outbox_id: z.number().int(), ...owned });
export const eventJobId = (installation: string, outboxId: number) => `evt-${installation}-${outboxId}`;
export const EVENT_RETRY: RetryPolicy = { attempts: 10, backoffMs: 1000 };

/** Listeners other parts of Keycord (the Discord bot) attach to events as they are dispatched. */
export type EventListener = (event: typeof outbox.$inferSelect) => Promise<void>;

/**
 * One try. Deliveries go to `sendDeliveries` (each provider sends them its way). A last try that
 * fails still marks the event dispatched, so nothing keeps looking for it.
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

export const dispatchEventJob: JobDefinition = {
  queue: 'events',
  concurrency: (config) => config.workerConcurrency,
  process: (ctx: HandlerContext, job: Job) => {
    const { outbox_id } = dispatchEventPayload.parse(job.data);
    return dispatchEventTry(ctx.deps, outbox_id, {
      listeners: ctx.eventListeners,
      lastTry: isLastAttempt(job),
      sendDeliveries: async (deliveries) => {
        await ctx.queues.webhooks.addBulk(
          deliveries.map((id) => {
            const spec = ctx.specs.delivery(id);
            return { name: spec.name, data: spec.data, opts: { ...spec.opts, jobId: spec.jobId } };
          }),
        );
      },
    });
  },
};
