import type { Job } from 'bullmq';
import { z } from 'zod';
import type { JobsConfig } from '../../config.js';
import type { HandlerContext } from '../handlers.js';
import type { QueueName } from '../queues.js';

/** Every payload names the installation (database) it belongs to; a worker runs only its own. */
export const owned = { installation: z.string().min(1) };

/** How often a job is tried and how long it waits between tries (BullMQ's options, the local provider's schedule). */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/**
 * What the BullMQ provider needs of a job: its queue, how many run at once, and how one try goes
 * on a BullMQ `Job`. The rest of a job's file — payload schema, job id rule, retry policy and the
 * try itself — is read by both providers.
 */
export interface JobDefinition {
  queue: QueueName;
  concurrency(config: JobsConfig): number;
  process(ctx: HandlerContext, job: Job, token?: string): Promise<unknown>;
}

/** BullMQ's `exponential` backoff: the delay before the try after `attemptsMade` failed ones. */
export function exponentialBackoff(attemptsMade: number, baseMs: number): number {
  return baseMs * 2 ** Math.max(0, attemptsMade - 1);
}

export const isLastAttempt = (job: Job) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
