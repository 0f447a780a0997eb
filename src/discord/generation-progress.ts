import type { SellerActor } from '../core/actor.js';
import { AppError } from '../core/errors.js';
import { getJob } from '../core/jobs/get-job.js';
import { jobLicenses } from '../core/jobs/job-licenses.js';
import type { InteractionContext } from './interaction.js';

const INTERACTION_LIFETIME_MS = 14 * 60_000;

/**
 * Follows a bulk generation job (run by any worker) through the core's job view, editing the deferred
 * reply with progress at most every `progressEveryMs`, and returns the keys once it completes.
 * Discord interaction tokens last 15 minutes, so the wait stops short of that.
 */
export async function waitForGeneration(ctx: InteractionContext, actor: SellerActor, jobId: number, report: (text: string) => Promise<void>): Promise<string[]> {
  const { deps, progressEveryMs } = ctx.bot;
  const deadline = Date.now() + INTERACTION_LIFETIME_MS;
  let lastText = '';
  for (;;) {
    // The same reads as GET /api/jobs/:id and its /licenses, with the seller's permissions.
    const job = await getJob(deps, actor, jobId);
    if (job.status === 'failed') throw new AppError('JOB_FAILED', `Generation failed: ${job.error ?? 'unknown error'}`, 500);
    if (job.status === 'completed') {
      const keys: string[] = [];
      for await (const page of (await jobLicenses(deps, actor, jobId)).pages()) for (const row of page) keys.push(row.licenseKey);
      return keys;
    }
    const text = `⏳ Generating ${job.count} keys… ${job.generated}/${job.count} (${job.progress}%)`;
    if (text !== lastText) {
      await report(text);
      lastText = text;
    }
    if (Date.now() > deadline) throw new AppError('TIMEOUT', `Still generating; fetch the keys later from GET /api/jobs/${jobId}/licenses.`, 504);
    await new Promise((r) => setTimeout(r, progressEveryMs));
  }
}
