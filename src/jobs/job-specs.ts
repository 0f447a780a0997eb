import type { JobSpec } from './enqueue.js';
import { WEBHOOK_ATTEMPTS } from './definitions/deliver-webhook.js';
import { EVENT_RETRY } from './definitions/dispatch-event.js';
import { GENERATION_RETRY } from './definitions/generate-licenses.js';
import { jobIdsFor, type Queues } from './queues.js';

/**
 * How each kind of job is added (queue, name, payload, id, retry policy), in one place for the
 * relay, the event fan-out and the reconciler, which must all add the same job the same way.
 */
export function jobSpecsFor(queues: Queues, installation: string) {
  const ids = jobIdsFor(installation);
  const delivery = (deliveryId: number, jobId: string, opts: { delayMs?: number; attemptsLeft?: number } = {}): JobSpec => ({
    queue: queues.webhooks,
    name: 'deliver',
    data: { delivery_id: deliveryId, installation },
    jobId,
    opts: {
      attempts: Math.max(1, opts.attemptsLeft ?? WEBHOOK_ATTEMPTS),
      backoff: { type: 'custom' },
      ...(opts.delayMs && opts.delayMs > 0 ? { delay: opts.delayMs } : {}),
    },
  });
  return {
    ids,
    /** The queue every event job goes to (the relay adds a batch of them at once). */
    eventQueue: queues.events,
    event: (outboxId: number, type: string, opts: { delayMs?: number } = {}): JobSpec => ({
      queue: queues.events,
      name: type,
      data: { outbox_id: outboxId, installation },
      jobId: ids.event(outboxId),
      opts: { attempts: EVENT_RETRY.attempts, backoff: { type: 'exponential', delay: EVENT_RETRY.backoffMs }, ...(opts.delayMs ? { delay: opts.delayMs } : {}) },
    }),
    /** The events of one relay pass, dispatched by one job (definitions/dispatch-event.ts). */
    eventBatch: (outboxIds: readonly number[]): JobSpec => ({
      queue: queues.events,
      name: 'dispatch_batch',
      data: { outbox_ids: [...outboxIds], installation },
      jobId: ids.eventBatch(outboxIds),
      opts: { attempts: EVENT_RETRY.attempts, backoff: { type: 'exponential', delay: EVENT_RETRY.backoffMs } },
    }),
    generation: (jobId: number): JobSpec => ({
      queue: queues.generate,
      name: 'generate_licenses',
      data: { job_id: jobId, installation },
      jobId: ids.generation(jobId),
      opts: { attempts: GENERATION_RETRY.attempts, backoff: { type: 'exponential', delay: GENERATION_RETRY.backoffMs } },
    }),
    delivery: (deliveryId: number, opts?: { delayMs?: number; attemptsLeft?: number }) => delivery(deliveryId, ids.delivery(deliveryId), opts),
    redelivery: (deliveryId: number, outboxId: number, opts?: { delayMs?: number; attemptsLeft?: number }) => delivery(deliveryId, ids.redelivery(deliveryId, outboxId), opts),
  };
}
export type JobSpecs = ReturnType<typeof jobSpecsFor>;
