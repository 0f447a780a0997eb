import { eq } from 'drizzle-orm';
import { jobs, licenses } from '../db/schema.js';
import { AppError } from '../core/errors.js';
import type { InteractionContext } from './interaction.js';

const INTERACTION_LIFETIME_MS = 14 * 60_000;

/**
 * Follows a bulk generation job (run by any worker) through the jobs table, editing the deferred
 * reply with progress at most every `progressEveryMs`, and returns the keys once it completes.
 * Discord interaction tokens last 15 minutes, so the wait stops short of that.
 */
export async function waitForGeneration(ctx: InteractionContext, jobId: number, report: (text: string) => Promise<void>): Promise<string[]> {
  const { deps, progressEveryMs } = ctx.bot;
  const deadline = Date.now() + INTERACTION_LIFETIME_MS;
  let lastText = '';
  for (;;) {
    const [job] = await deps.db.orm.select().from(jobs).where(eq(jobs.id, jobId));
    if (!job) throw new AppError('NOT_FOUND', 'The generation job disappeared.', 404);
    if (job.status === 'failed') throw new AppError('JOB_FAILED', `Generation failed: ${job.error ?? 'unknown error'}`, 500);
    if (job.status === 'completed') {
      const rows = await deps.db.orm.select({ key: licenses.licenseKey }).from(licenses).where(eq(licenses.jobId, jobId)).orderBy(licenses.id);
      return rows.map((r) => r.key);
    }
    const pct = Math.floor((job.generated / job.count) * 100);
    const text = `⏳ Generating ${job.count} keys… ${job.generated}/${job.count} (${pct}%)`;
    if (text !== lastText) {
      await report(text);
      lastText = text;
    }
    if (Date.now() > deadline) throw new AppError('TIMEOUT', `Still generating; fetch the keys later from GET /api/jobs/${jobId}/licenses.`, 504);
    await new Promise((r) => setTimeout(r, progressEveryMs));
  }
}
