import { Queue, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';

/** Queue names and what their jobs carry. Payloads hold ids only — never keys or secrets. */
export const QUEUES = {
  events: 'events',
  webhooks: 'webhooks',
  generate: 'generate',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Every payload names the installation (database) it belongs to; a worker runs only its own. */
const owned = { installation: z.string().min(1) };
export const dispatchEventPayload = z.object({ outbox_id: z.number().int(), ...owned });
export const deliverWebhookPayload = z.object({ delivery_id: z.number().int(), ...owned });
export const generateLicensesPayload = z.object({ job_id: z.number().int(), ...owned });

/**
 * Deterministic job ids: adding the same work twice is a no-op in BullMQ. They carry the
 * installation id, because the numbers come from this database's sequences: another database's
 * `gen-1` (a second installation on the same Redis, or this one's before it was recreated) is
 * not this one's.
 */
export function jobIdsFor(installation: string) {
  return {
    event: (outboxId: number) => `evt-${installation}-${outboxId}`,
    delivery: (deliveryId: number) => `dlv-${installation}-${deliveryId}`,
    redelivery: (deliveryId: number, outboxId: number) => `dlv-${installation}-${deliveryId}-r${outboxId}`,
    generation: (jobId: number) => `gen-${installation}-${jobId}`,
    expirySweepScheduler: () => `expiry-sweep-${installation}`,
  };
}
export type JobIds = ReturnType<typeof jobIdsFor>;

/** The failure reason of a job a worker refused because it belongs to another installation. */
export const FOREIGN_JOB = 'FOREIGN_INSTALLATION';

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

export type Queues = Record<QueueName, Queue>;

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const make = (name: QueueName) => {
    const queue = new Queue(name, {
      connection,
      prefix,
      defaultJobOptions: { removeOnComplete: { age: 24 * 3600, count: 10_000 }, removeOnFail: { age: 7 * 24 * 3600 } },
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
