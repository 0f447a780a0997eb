/**
 * Job: a row of the jobs table — a bulk license generation or a confirmed bulk ban/delete — run in
 * batches, resumable from what the database holds (core/jobs/run-job.ts picks the runner by type).
 */
import { WaitingError, type Job } from 'bullmq';
import { z } from 'zod';
import type { JobsConfig } from '../../config.js';
import type { Deps } from '../../core/deps.js';
import { jobErrorText } from '../../core/jobs/job-error.js';
import { runJob } from '../../core/jobs/run-job.js';
import { failGenerationJob, type GenerationProgress } from '../../core/jobs/run-generation-job.js';
import type { HandlerContext } from '../handlers.js';
import { isLastAttempt, owned, type JobDefinition, type RetryPolicy } from './job-definition.js';

const generateLicensesPayload = z.object({ job_id: z.number().int(), ...owned });
export const generationJobId = (installation: string, jobId: number) => `gen-${installation}-${jobId}`;
export const GENERATION_RETRY: RetryPolicy = { attempts: 5, backoffMs: 2000 };

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
    return await runJob(deps, jobId, {
      batchSize: config.generateBatchSize,
      shouldPause: opts.shouldPause,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } catch (err) {
    // The seller reads the job's error; drizzle's message would show them the failed batch's keys.
    const error = jobErrorText(err);
    if (opts.lastTry) await failGenerationJob(deps, jobId, error);
    // What the queue keeps of a failed try (BullMQ's failedReason, in Redis) is the same text; the
    // logger, which redacts bound values, still reaches the whole error through `cause`.
    throw new Error(error, { cause: err });
  }
}

export const generateLicensesJob: JobDefinition = {
  queue: 'generate',
  // One at a time: a job is already one long stream of batch inserts.
  concurrency: () => 1,
  process: async (ctx: HandlerContext, job: Job, token?: string) => {
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
  },
};
