import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { eq, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { jobs, plans } from '../../db/schema.js';
import type { Deps } from '../deps.js';
import { writeAudit } from '../audit.js';
import { emitEvent } from '../events/emit-event.js';
import { emitJobFinished } from './job-finished.js';
import { lockJobBehindApplication } from './lock-job.js';
import { countGenerated, insertKeyBatchCount } from '../licenses/insert-unique-keys.js';
import { jobLicenseRoom } from '../licenses/license-capacity.js';
import { makeKeys, type KeySpec } from '../licenses/key-format.js';
import { system } from '../actor.js';

interface GenerationParams {
  plan_id: number;
  spec: KeySpec;
  notes: string | null;
  discord_user_id: string | null;
}

export type GenerationProgress = (generated: number, count: number) => Promise<void> | void;

export interface GenerationRun {
  batchSize: number;
  onProgress?: GenerationProgress;
  /** Asked between batches: a worker shutting down hands the job back rather than finish it. */
  shouldPause?: () => boolean;
}

/**
 * Makes a job's keys, one batch per transaction. Each transaction locks the job row (after its
 * application's, as a delete does), reads how
 * many keys are already committed, inserts the next batch and raises `generated` — so a worker
 * that dies mid-batch loses only an uncommitted batch, and whoever resumes (another worker, or
 * two at once) continues from the committed count: exactly `count` keys, none twice. Each batch
 * also checks the application still has room for the job's remainder (the limit may have been
 * lowered since it was accepted); if not, the job fails there, never past the limit.
 * Returns `done: false` only when `shouldPause` stopped it between batches.
 */
export async function runGenerationJob(deps: Deps, jobId: number, run: GenerationRun) {
  const { batchSize, onProgress, shouldPause } = run;
  let fruitless = 0;
  for (;;) {
    if (shouldPause?.()) return { done: false as const, paused: true as const };
    const step = await deps.db.orm.transaction(async (tx) => {
      // `no key update`: what jobLicenseRoom takes below, so every batch of an application counts in turn.
      const job = await lockJobBehindApplication(tx, jobId, 'no key update');
      if (!job) return { done: true as const, missing: true };
      if (job.status === 'completed' || job.status === 'failed') return { done: true as const, job };
      const params = job.params as unknown as GenerationParams;
      const remaining = job.count - job.generated;
      const now = deps.clock.now();
      if (remaining <= 0) {
        const completed = { ...job, generated: job.count, status: 'completed' as const, completedAt: now, updatedAt: now };
        await tx.update(jobs).set({ status: 'completed', completedAt: now, updatedAt: now }).where(eq(jobs.id, jobId));
        await emitKeysGenerated(tx, completed);
        await emitJobFinished(tx, completed);
        await writeAudit(tx, system('generation-job'), { applicationId: job.applicationId, action: 'job.completed', target: `job:${job.id}`, details: { count: job.count, requested_by: job.actor } });
        return { done: true as const, job: completed };
      }
      const [plan] = await tx.select().from(plans).where(eq(plans.id, params.plan_id));
      // No license.generated: a plan with keys is deleted only with them (force), each key with its license.deleted.
      if (!plan) {
        const failed = { ...job, status: 'failed' as const, error: 'The plan was deleted', updatedAt: now };
        await tx.update(jobs).set({ status: 'failed', error: failed.error, updatedAt: now }).where(eq(jobs.id, jobId));
        await emitJobFinished(tx, failed);
        return { done: true as const, job: failed };
      }
      const limit = deps.limits.maxLicensesPerApplication;
      if ((await jobLicenseRoom(tx, job.applicationId, job.id, limit)) < remaining) {
        const error = `The application reached its limit of ${limit} licenses; the job stopped after ${job.generated} of ${job.count} keys`;
        const failed = { ...job, status: 'failed' as const, error, updatedAt: now };
        await tx.update(jobs).set({ status: 'failed', error, updatedAt: now }).where(eq(jobs.id, jobId));
        await emitKeysGenerated(tx, failed);
        await emitJobFinished(tx, failed);
        return { done: true as const, job: failed };
      }
      const keys = [...new Set(makeKeys(params.spec, Math.min(batchSize, remaining)))];
      const inserted = await insertKeyBatchCount(tx, keys, {
        applicationId: job.applicationId,
        planId: plan.id,
        durationDays: plan.durationDays,
        notes: params.notes,
        discordUserId: params.discord_user_id,
        jobId: job.id,
      });
      const generated = job.generated + inserted;
      await tx.update(jobs).set({ status: 'running', generated, updatedAt: now }).where(eq(jobs.id, jobId));
      await countGenerated(tx, job.applicationId, now.toISOString().slice(0, 10), inserted);
      return { done: false as const, paused: false as const, generated, count: job.count, inserted };
    });
    if (step.done) return step;
    // A mask whose key space is nearly used up would otherwise spin here forever.
    fruitless = step.inserted === 0 ? fruitless + 1 : 0;
    if (fruitless >= 5) {
      await failGenerationJob(deps, jobId, 'Could not make enough unique keys; use a longer mask');
      return { done: true as const };
    }
    await onProgress?.(step.generated, step.count);
    // The embedded database answers on this thread: without a turn of the event loop between
    // batches, a large job would hold every request, timer and Discord reply until it ends.
    await yieldToEventLoop();
  }
}

/** Marks a job (of either type) failed for good (the worker gave up on it), with its `job.finished` event. */
export async function failGenerationJob(deps: Deps, jobId: number, error: string) {
  await deps.db.orm.transaction(async (tx) => {
    const [failed] = await tx
      .update(jobs)
      .set({ status: 'failed', error: error.slice(0, 500), updatedAt: deps.clock.now() })
      .where(sql`${jobs.id} = ${jobId} and ${jobs.status} in ('queued', 'running')`)
      .returning();
    if (!failed) return;
    await emitKeysGenerated(tx, { ...failed, status: 'failed' });
    await emitJobFinished(tx, { ...failed, status: 'failed' });
  });
}

/**
 * A generation job's `license.generated` event, for the keys it committed: emitted once, in the
 * transaction that ends the job (only a queued or running job is ended, under its row lock or by
 * a conditional update, so a retried or resumed try finds it ended and emits nothing). A job that
 * fails part-way keeps its committed keys (live, counted, listed by /api/jobs/:id/licenses): its
 * event says so with `partial: true` and `count` = the keys it made; one that made none has none.
 */
async function emitKeysGenerated(tx: Executor, job: typeof jobs.$inferSelect & { status: 'completed' | 'failed' }) {
  if (job.type !== 'generate_licenses') return;
  const { plan_id } = job.params as unknown as GenerationParams;
  if (job.status === 'completed') {
    await emitEvent(tx, job.applicationId, 'license.generated', { plan_id, count: job.count, job_id: job.id });
  } else if (job.generated > 0) {
    await emitEvent(tx, job.applicationId, 'license.generated', { plan_id, count: job.generated, job_id: job.id, partial: true });
  }
}
