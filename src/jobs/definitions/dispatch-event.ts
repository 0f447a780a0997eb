/**
 * Job: dispatch an outbox event — one delivery per subscribed webhook with its first attempt, then
 * the in-process listeners (the Discord notices), then the attempts and the dispatch mark.
 */
import type { Job } from 'bullmq';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { fanOutEvent, markDispatched, recordAttempts, sendDelivery, type FannedOutDelivery } from '../../core/webhooks/deliver-webhooks.js';
import { WEBHOOK_ATTEMPTS, webhookBackoff, webhookConcurrency } from './deliver-webhook.js';
import type { outbox } from '../../db/schema.js';
import type { HandlerContext } from '../handlers.js';
import { takeRelayedEvent } from '../relayed-events.js';
import { isLastAttempt, owned, type JobDefinition, type RetryPolicy } from './job-definition.js';

const dispatchEventPayload = z.object({ outbox_id: z.number().int(), ...owned });
export const eventJobId = (installation: string, outboxId: number) => `evt-${installation}-${outboxId}`;
export const EVENT_RETRY: RetryPolicy = { attempts: 10, backoffMs: 1000 };

/** Listeners other parts of Keycord (the Discord bot) attach to events as they are dispatched. */
export type EventListener = (event: typeof outbox.$inferSelect) => Promise<void>;

/** A delivery the fan-out leaves to the delivery schedule, with the attempts it has had. */
export interface HandedOffDelivery {
  id: number;
  attemptsMade: number;
}

/**
 * One try. A new delivery gets its first attempt here, at once, over the receiver's keep-alive
 * connection: in the common case (the receiver answers 2xx) an event is one job and three
 * statements (read, fan out, record the attempts with the dispatch mark). Deliveries that fail
 * their first attempt, or that a retried fan-out finds already attempted, go to `sendDeliveries`
 * (each provider schedules them its way, with the attempts they have had). Until the event is
 * marked dispatched its deliveries are this job's alone — the reconciler and the local schedule
 * leave them be — so no first attempt runs twice. A last try that fails still marks the event
 * dispatched, so nothing keeps looking for it.
 */
export async function dispatchEventTry(
  deps: Deps,
  outboxId: number,
  opts: {
    listeners: readonly EventListener[];
    sendDeliveries: (deliveries: HandedOffDelivery[]) => Promise<void>;
    lastTry: boolean;
    /** The event's outbox row, when the caller has just read it: not read again. */
    event?: typeof outbox.$inferSelect;
  },
): Promise<{ deliveries: number }> {
  try {
    const { event, body, pending } = await fanOutEvent(deps, outboxId, opts.event);
    const firstTry = (d: FannedOutDelivery) => event !== null && d.attempts === 0 && (d.hookActive || event.type === 'webhook.test');
    const sent = await Promise.all(pending.filter(firstTry).map((d) => sendDelivery(deps, { id: d.id, eventType: event!.type, body, url: d.url, secretEnc: d.secretEnc })));
    let listenerFailure: { err: unknown } | undefined;
    if (event) {
      for (const listener of opts.listeners) {
        try {
          await listener(event);
        } catch (err) {
          listenerFailure = { err };
          break;
        }
      }
    }
    // Recorded whatever the listeners did: an attempt made is never made again as a first one.
    await recordAttempts(deps, sent, listenerFailure ? {} : { dispatchedEventId: outboxId });
    const handedOff: HandedOffDelivery[] = [
      ...sent.filter((s) => !s.delivered).map((s) => ({ id: s.deliveryId, attemptsMade: 1 })),
      ...pending.filter((d) => !firstTry(d)).map((d) => ({ id: d.id, attemptsMade: d.attempts })),
    ];
    if (handedOff.length) await opts.sendDeliveries(handedOff);
    if (listenerFailure) throw listenerFailure.err;
    return { deliveries: pending.length };
  } catch (err) {
    if (opts.lastTry) await markDispatched(deps, outboxId);
    throw err;
  }
}

export const dispatchEventJob: JobDefinition = {
  queue: 'events',
  // A dispatch makes its deliveries' first attempts, so it waits on receivers as deliveries do.
  concurrency: webhookConcurrency,
  process: (ctx: HandlerContext, job: Job) => {
    const { outbox_id } = dispatchEventPayload.parse(job.data);
    const event = takeRelayedEvent(ctx.deps.db, outbox_id);
    return dispatchEventTry(ctx.deps, outbox_id, {
      listeners: ctx.eventListeners,
      lastTry: isLastAttempt(job),
      ...(event ? { event } : {}),
      sendDeliveries: async (deliveries) => {
        await ctx.queues.webhooks.addBulk(
          deliveries.map(({ id, attemptsMade }) => {
            // The rest of its schedule: the next attempt after the backoff of those made, and the attempts left.
            const spec = ctx.specs.delivery(id, { delayMs: attemptsMade > 0 ? webhookBackoff(attemptsMade, ctx.config.webhookRetryBaseMs) : 0, attemptsLeft: WEBHOOK_ATTEMPTS - attemptsMade });
            return { name: spec.name, data: spec.data, opts: { ...spec.opts, jobId: spec.jobId } };
          }),
        );
      },
    });
  },
};
