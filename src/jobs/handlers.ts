import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Deps } from '../core/deps.js';
import type { JobsConfig } from '../config.js';
import { deliverWebhookTry, dispatchEventTry, generateLicensesTry, maintenanceTry, type EventListener } from './job-tries.js';
import type { JobSpecs } from './job-specs.js';
import { deliverWebhookPayload, dispatchEventPayload, FOREIGN_JOB, generateLicensesPayload, type Queues } from './queues.js';

export interface HandlerContext {
  deps: Deps;
  queues: Queues;
  config: JobsConfig;
  /** This database's installation id: the only one whose jobs these workers run. */
  installation: string;
  specs: JobSpecs;
  eventListeners: EventListener[];
  /** Set when the job system is closing: long jobs hand themselves back between batches. */
  stopping: boolean;
}

const isLastAttempt = (job: Job) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * Runs a job only if it belongs to this installation. Another installation's job (a queue prefix
 * shared on purpose, or a job left from this database's previous life) names rows of another
 * database: running it here would touch the wrong ones. It is failed without retry; its own
 * installation's reconciler adds it again under a fresh id.
 */
export function ownJobsOnly(ctx: HandlerContext, process: (job: Job, token?: string) => Promise<unknown>) {
  return async (job: Job, token?: string) => {
    const owner = (job.data as { installation?: unknown } | undefined)?.installation;
    if (owner !== ctx.installation) {
      ctx.deps.log.error({ queue: job.queueName, job: job.id, owner, installation: ctx.installation }, 'refused a job of another installation (is QUEUE_PREFIX shared?)');
      throw new UnrecoverableError(`${FOREIGN_JOB}: job of installation ${String(owner)}, this is ${ctx.installation}`);
    }
    return process(job, token);
  };
}

/** An outbox event: one delivery job per subscribed webhook, then the in-process listeners. */
export async function dispatchEvent(ctx: HandlerContext, job: Job) {
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
}

/** One attempt; a failure throws so BullMQ retries with the webhook backoff, until the last. */
export async function deliverWebhook(ctx: HandlerContext, job: Job) {
  const { delivery_id } = deliverWebhookPayload.parse(job.data);
  const outcome = await deliverWebhookTry(ctx.deps, delivery_id, { lastTry: isLastAttempt(job) });
  if (outcome !== 'retry') return { outcome };
  throw new Error(`delivery ${delivery_id} failed; ${isLastAttempt(job) ? 'giving up' : 'will retry'}`);
}

export async function generateLicenses(ctx: HandlerContext, job: Job, token?: string) {
  const { job_id } = generateLicensesPayload.parse(job.data);
  const result = await generateLicensesTry(ctx.deps, ctx.config, job_id, {
    lastTry: isLastAttempt(job),
    shouldPause: () => ctx.stopping,
    onProgress: (generated, count) => job.updateProgress(Math.floor((generated / count) * 100)),
  });
  if (!result.done) {
    // The committed count is in the database: whoever takes the job next carries on from it.
    await job.moveToWait(token);
    throw new WaitingError();
  }
  return { status: 'job' in result && result.job ? result.job.status : 'gone' };
}

/** The periodic pass: expiry notices, and forgetting what is no longer needed. */
export const maintenance = (ctx: HandlerContext) => maintenanceTry(ctx.deps, ctx.config);
