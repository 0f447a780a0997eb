/**
 * Job: dispatch an outbox event — one delivery per subscribed webhook with its first attempt, then
 * the in-process listeners (the Discord notices), then the attempts and the dispatch mark.
 */
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { deliveryPending, eventUndispatched } from '../../core/jobs/unfinished-work.js';
import { fanOutEvent, firstAttemptMayStart, markDispatched, recordAttempts, sendDelivery, type FannedOutDelivery, type SentAttempt } from '../../core/webhooks/deliver-webhooks.js';
import { readEvent } from '../../core/webhooks/delivery-statements.js';
import { WEBHOOK_ATTEMPTS, webhookBackoff, webhookConcurrency } from './deliver-webhook.js';
import type { outbox } from '../../db/schema.js';
import { enqueueManyUnlessHeld } from '../enqueue.js';
import { EventLeases } from '../event-leases.js';
import type { HandlerContext } from '../handlers.js';
import { Limiter } from '../limiter.js';
import type { ReceiverTurn } from '../receiver-turns.js';
import { takeRelayedEvent } from '../relayed-events.js';
import { isLastAttempt, owned, type JobDefinition, type RetryPolicy } from './job-definition.js';

const dispatchEventPayload = z.object({ outbox_id: z.number().int(), ...owned });
const dispatchBatchPayload = z.object({ outbox_ids: z.array(z.number().int()).min(1).max(1000), ...owned });
export const eventJobId = (installation: string, outboxId: number) => `evt-${installation}-${outboxId}`;
/**
 * A batch is named by its events (first, last, how many; the relay sorts them): the same rows
 * relayed again after a commit that failed get the same id, which BullMQ keeps once.
 */
export const eventBatchJobId = (installation: string, outboxIds: readonly number[]) => `evb-${installation}-${outboxIds[0]}-${outboxIds[outboxIds.length - 1]}-${outboxIds.length}`;
export const EVENT_RETRY: RetryPolicy = { attempts: 10, backoffMs: 1000 };
/**
 * Events per batch job. The relay hands its events to the workers in jobs of this many rather than
 * one job each: a BullMQ job costs two Lua scripts (add, finish) and their round trips, which on
 * bench:webhooks were about as much CPU (worker and Redis) as the delivery itself.
 */
export const EVENTS_PER_BATCH = 50;

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
 * (each provider schedules them its way, with the attempts they have had). The fan-out holds the
 * deliveries it returns for this try (FIRST_ATTEMPT_HOLD_MS): another dispatch of the same event
 * running at once gets none of them, and the reconciler leaves a delivery be until its event is
 * marked dispatched and its hold is over — so no first attempt runs twice. A last try that fails
 * still marks the event dispatched, so nothing keeps looking for it. Once the mark is committed, a
 * failed hand-off does not fail the try: the reconciler adds those deliveries' jobs.
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
    /** Runs each POST (a batch keeps its process's POSTs in flight to the webhook concurrency). */
    limitSend?: <T>(send: () => Promise<T>) => Promise<T>;
    /**
     * Asked for a turn at the receiver, as a POST of the application's owner, before `limitSend`
     * (receiver-turns.ts): a first attempt given none is left to the schedule, not made, so a
     * hanging receiver's backlog (or a seller's many) does not hold the process's POSTs or this dispatch.
     */
    turn?: ReceiverTurn | undefined;
    /**
     * Asked before the listeners (a BullMQ dispatch: EventLeases.stillHeld): false when another run
     * has the event now. The listeners are then left to it, and the event is not marked; the first
     * attempts made are recorded, as when a listener fails.
     */
    stillHeld?: () => Promise<boolean>;
    /**
     * True once the provider is stopping: a first attempt not started by then is left to the retry
     * schedule. Else the POSTs queued for the process's slots went on starting a wave per webhook
     * time-out, and a stop behind hanging receivers took a multiple of it.
     */
    stopping?: () => boolean;
  },
): Promise<{ deliveries: number }> {
  try {
    const { event, body, pending, holdUntil } = await fanOutEvent(deps, outboxId, opts.event);
    const firstTry = (d: FannedOutDelivery) => event !== null && d.attempts === 0 && (d.hookActive || event.type === 'webhook.test');
    // Checked when its turn comes: one whose hold runs short by then is left to the schedule (null).
    const stopping = () => opts.stopping?.() === true;
    const send = async (d: FannedOutDelivery) =>
      !stopping() && firstAttemptMayStart(deps, holdUntil) ? sendDelivery(deps, { id: d.id, eventType: event!.type, body, url: d.url, secretEnc: d.secretEnc }) : null;
    const { limitSend, turn } = opts;
    const attempt = async (d: FannedOutDelivery) => {
      if (stopping()) return null;
      const endTurn = turn ? await turn(d.url, d.ownerId) : undefined;
      if (endTurn === null) return null;
      try {
        return await (limitSend ? limitSend(() => send(d)) : send(d));
      } finally {
        endTurn?.();
      }
    };
    const firsts = pending.filter(firstTry);
    const outcomes = await Promise.all(firsts.map(attempt));
    const sent = outcomes.filter((s): s is SentAttempt => s !== null);
    let listenerFailure: { err: unknown } | undefined;
    if (event && opts.listeners.length > 0 && opts.stillHeld && !(await opts.stillHeld())) {
      listenerFailure = { err: new EventTakenElsewhere(outboxId) };
    } else if (event) {
      for (const listener of opts.listeners) {
        try {
          await listener(event);
        } catch (err) {
          listenerFailure = { err };
          break;
        }
      }
    }
    // Recorded whatever the listeners did: an attempt made is never made again as a first one. The
    // deliveries held and not attempted go to the schedule below, their hold let go in the same statement.
    const attempted = new Set(sent.map((s) => s.deliveryId));
    const letGo = { deliveryIds: pending.filter((d) => !attempted.has(d.id)).map((d) => d.id), holdUntil };
    await recordAttempts(deps, sent, listenerFailure ? { letGo } : { dispatchedEventId: outboxId, letGo });
    const handedOff: HandedOffDelivery[] = [
      ...sent.filter((s) => !s.delivered).map((s) => ({ id: s.deliveryId, attemptsMade: 1 })),
      ...pending.filter((d) => !firstTry(d)).map((d) => ({ id: d.id, attemptsMade: d.attempts })),
      ...firsts.filter((_, i) => outcomes[i] === null).map((d) => ({ id: d.id, attemptsMade: 0 })),
    ];
    if (listenerFailure) {
      if (handedOff.length) await opts.sendDeliveries(handedOff);
      throw listenerFailure.err;
    }
    // Dispatched now: a failed hand-off must not fail the try, whose retry would find the event
    // marked and do nothing. The deliveries are pending in the database, where the reconciler finds
    // them (their first attempts recorded, or their hold over) and adds their jobs.
    if (handedOff.length) {
      await opts.sendDeliveries(handedOff).catch((err: Error) => {
        deps.log.warn({ event: outboxId, deliveries: handedOff.length, err: err.message }, 'could not hand deliveries to the retry schedule; the reconciler will add them');
      });
    }
    return { deliveries: pending.length };
  } catch (err) {
    // Not when another run has the event: its mark is that run's to write.
    if (opts.lastTry && !(err instanceof EventTakenElsewhere)) await markDispatched(deps, outboxId);
    throw err;
  }
}

/** The run lost its lease on the event (stillHeld): the run that has it dispatches it. */
class EventTakenElsewhere extends Error {
  constructor(outboxId: number) {
    super(`event ${outboxId} was taken by another job while this one was held up; its listeners are left to that one`);
  }
}

/**
 * Hands deliveries to the BullMQ schedule: the next attempt after the backoff of those made, with
 * the attempts left. Added as the reconciler adds them (enqueueManyUnlessHeld): a delivery job that
 * already ran (it found this dispatch's hold: `held`) keeps its id for a day, and a plain add under
 * that id would be dropped, leaving the delivery to the reconciler — or, while the event's
 * listeners keep failing, to nobody until the event gives up. It goes in under the next id of the
 * chain. The common case (no job holds the id) is one look and one `addBulk`.
 */
async function scheduleDeliveries(ctx: HandlerContext, deliveries: HandedOffDelivery[]) {
  await enqueueManyUnlessHeld(
    ctx.queues.webhooks,
    deliveries.map(({ id, attemptsMade }) => ({
      spec: ctx.specs.delivery(id, { delayMs: attemptsMade > 0 ? webhookBackoff(attemptsMade, ctx.config.webhookRetryBaseMs) : 0, attemptsLeft: WEBHOOK_ATTEMPTS - attemptsMade }),
      stillWanted: () => deliveryPending(ctx.deps, id),
    })),
  );
}

/** Per job context (one per job system): the dispatches of batch jobs in flight at once. */
const batchLimiters = new WeakMap<HandlerContext, Limiter>();

/**
 * One try of a batch: each event not yet dispatched is dispatched as a job of its own would be
 * (dispatchEventTry), all at once so that their statements are shared (coalesce.ts), with at most
 * the webhook concurrency of POSTs in flight in this process, and a slow receiver's share of them
 * (receiver-turns.ts: a POST waits for its receiver's turn before it takes a slot, and one given none
 * is left to the schedule, not attempted). An event whose try fails goes on in
 * a job of its own (`evt-…`, the event retry schedule, its listeners' failures included), so one event never
 * holds back or repeats the others; the batch fails (and is retried, skipping the events it
 * dispatched) only when that hand-off cannot be made.
 */
export async function dispatchEventBatch(ctx: HandlerContext, outboxIds: readonly number[], holder = `batch-${randomUUID()}`): Promise<{ events: number; handedOff: number }> {
  let limiter = batchLimiters.get(ctx);
  if (!limiter) batchLimiters.set(ctx, (limiter = new Limiter(webhookConcurrency(ctx.config))));
  const failed: { id: number; type: string }[] = [];
  const limitSend = <T>(send: () => Promise<T>) => limiter.run(send);
  // The relay's rows on the first try; a retry reads them, and finds the marks of what it dispatched.
  const read = await Promise.all(outboxIds.map(async (id) => ({ id, event: takeRelayedEvent(ctx.deps.db, id) ?? (await readEvent(ctx.deps.db, id).catch(() => undefined)) })));
  const undispatched = read.filter(({ event }) => event !== null && !event?.dispatchedAt);
  // Another batch of a relay pass that ran again may have some of them in hand (event-leases.ts):
  // those go on in jobs of their own, which find them dispatched, or take them if that one fails.
  const leases = new EventLeases(ctx.specs.eventQueue, ctx.installation, holder, ctx.deps.log);
  const leased = await leases.take(undispatched.map(({ id }) => id));
  // Renewed while the dispatches run; once they are over, the leases of those dispatched lapse on their own.
  await Promise.all(
    undispatched.map(async ({ id, event }) => {
      if (!leased.has(id)) {
        ctx.deps.log.info({ event: id }, 'event in hand in another job (a relay pass ran again); left to a job of its own');
        failed.push({ id, type: event?.type ?? 'event' });
        return;
      }
      try {
        if (!event) throw new Error('could not read the event');
        await dispatchEventTry(ctx.deps, id, {
          listeners: ctx.eventListeners,
          lastTry: false,
          event,
          limitSend,
          turn: ctx.receiverTurns?.take,
          stillHeld: () => leases.stillHeld(id),
          stopping: () => ctx.stopping,
          sendDeliveries: (d) => scheduleDeliveries(ctx, d),
        });
      } catch (err) {
        ctx.deps.log.warn({ event: id, err: (err as Error).message }, 'event dispatch failed; it is retried in a job of its own');
        await leases.release(id).catch(() => {}); // else its job waits the lease out
        failed.push({ id, type: event?.type ?? 'event' });
      }
    }),
  ).finally(() => leases.end());
  if (failed.length) {
    await enqueueManyUnlessHeld(
      ctx.specs.eventQueue,
      failed.map(({ id, type }) => ({ spec: ctx.specs.event(id, type, { delayMs: EVENT_RETRY.backoffMs }), stillWanted: () => eventUndispatched(ctx.deps, id) })),
    );
  }
  return { events: outboxIds.length, handedOff: failed.length };
}

export const dispatchEventJob: JobDefinition = {
  queue: 'events',
  // A dispatch makes its deliveries' first attempts, so it waits on receivers as deliveries do.
  concurrency: webhookConcurrency,
  process: async (ctx: HandlerContext, job: Job, token?: string) => {
    // A run's holder name is its job id and lock token (a run given none, a random one): a run BullMQ
    // took for stalled while it went on (its event loop blocked past the lock) keeps its events from
    // the run that took its place, and a retry takes those a failed run let go.
    const holder = `${job.id ?? 'job'}:${token ?? randomUUID()}`;
    if ((job.data as { outbox_ids?: unknown }).outbox_ids !== undefined) return dispatchEventBatch(ctx, dispatchBatchPayload.parse(job.data).outbox_ids, holder);
    const { outbox_id } = dispatchEventPayload.parse(job.data);
    // As in a batch: a try after one that dispatched the event (and failed after its mark, or was
    // added again) finds the mark, and runs neither the fan-out nor the listeners again.
    const event = takeRelayedEvent(ctx.deps.db, outbox_id) ?? (await readEvent(ctx.deps.db, outbox_id));
    if (event === null || event.dispatchedAt) return { deliveries: 0 };
    // Still in hand in a batch (event-leases.ts): tried again later, when that one has marked it or let it go.
    const leases = new EventLeases(ctx.specs.eventQueue, ctx.installation, holder, ctx.deps.log);
    if (!(await leases.take([outbox_id])).has(outbox_id)) throw new Error(`event ${outbox_id} is being dispatched by another job; will try again`);
    try {
      return await dispatchEventTry(ctx.deps, outbox_id, {
        listeners: ctx.eventListeners,
        lastTry: isLastAttempt(job),
        event,
        turn: ctx.receiverTurns?.take,
        stillHeld: () => leases.stillHeld(outbox_id),
        stopping: () => ctx.stopping,
        sendDeliveries: (deliveries) => scheduleDeliveries(ctx, deliveries),
      });
    } catch (err) {
      await leases.release(outbox_id).catch(() => {});
      throw err;
    } finally {
      leases.end();
    }
  },
};
