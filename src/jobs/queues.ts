import { Queue, type ConnectionOptions } from 'bullmq';
import { deliveryJobId, redeliveryJobId } from './definitions/deliver-webhook.js';
import { eventBatchJobId, eventJobId } from './definitions/dispatch-event.js';
import { generationJobId } from './definitions/generate-licenses.js';
import { expirySweepSchedulerId } from './definitions/maintenance.js';

/** Queue names. Payloads (in each job's file) hold ids only — never keys or secrets. */
export const QUEUES = {
  events: 'events',
  webhooks: 'webhooks',
  generate: 'generate',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/**
 * Deterministic job ids: adding the same work twice is a no-op in BullMQ. They carry the
 * installation id, because the numbers come from this database's sequences: another database's
 * `gen-1` (a second installation on the same Redis, or this one's before it was recreated) is
 * not this one's. Each rule lives in its job's file (src/jobs/definitions/).
 */
export function jobIdsFor(installation: string) {
  return {
    event: (outboxId: number) => eventJobId(installation, outboxId),
    eventBatch: (outboxIds: readonly number[]) => eventBatchJobId(installation, outboxIds),
    delivery: (deliveryId: number) => deliveryJobId(installation, deliveryId),
    redelivery: (deliveryId: number, outboxId: number) => redeliveryJobId(installation, deliveryId, outboxId),
    generation: (jobId: number) => generationJobId(installation, jobId),
    expirySweepScheduler: () => expirySweepSchedulerId(installation),
  };
}

/** The failure reason of a job a worker refused because it belongs to another installation. */
export const FOREIGN_JOB = 'FOREIGN_INSTALLATION';

// The webhook schedule is the delivery job's (definitions/deliver-webhook.ts); named here too for
// the code that reads it beside the queues.
export { WEBHOOK_ATTEMPTS, WEBHOOK_MAX_DELAY_MS, webhookBackoff } from './definitions/deliver-webhook.js';

export type Queues = Record<QueueName, Queue>;

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const make = (name: QueueName) => {
    const queue = new Queue(name, {
      connection,
      prefix,
      // Finished jobs are kept for Bull Board only: what became of the work is the database's (a
      // finished job stands for nothing the database still calls unfinished: enqueue.ts). Capped,
      // so that a dead receiver failing delivery after delivery cannot grow Redis for a week.
      defaultJobOptions: { removeOnComplete: { age: 24 * 3600, count: 10_000 }, removeOnFail: { age: 7 * 24 * 3600, count: 10_000 } },
    });
    // Outages are reported once by the RedisMonitor; without a listener BullMQ prints each one.
    queue.on('error', () => {});
    return queue;
  };
  return {
    events: make(QUEUES.events),
    webhooks: make(QUEUES.webhooks),
    generate: make(QUEUES.generate),
    maintenance: make(QUEUES.maintenance),
  };
}

export async function closeQueues(queues: Queues) {
  await Promise.allSettled(Object.values(queues).map((q) => q.close()));
}
