import { UnrecoverableError, type Job } from 'bullmq';
import type { Deps } from '../core/deps.js';
import type { JobsConfig } from '../config.js';
import type { EventListener } from './definitions/dispatch-event.js';
import type { JobSpecs } from './job-specs.js';
import { FOREIGN_JOB, type Queues } from './queues.js';
import type { ReceiverTurns } from './receiver-turns.js';

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
  /**
   * The webhook POSTs' turns at each receiver, shared by the dispatches and deliveries of this job
   * system (receiver-turns.ts). A context without them (one made by hand) sends without turns.
   */
  receiverTurns?: ReceiverTurns;
}

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
