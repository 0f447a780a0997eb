import { and, asc, eq, gt } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { requireJob } from './get-job.js';

const PAGE = 5000;

/**
 * The keys a generation job made, read in id order a page at a time, so an export of 100,000
 * keys streams in constant memory. Refused until the job has completed.
 */
export async function jobLicenses(deps: Deps, actor: SellerActor, jobId: number) {
  const job = await requireJob(deps.db.orm, actor, jobId);
  if (job.status !== 'completed') throw conflict(`The job is ${job.status}; keys are available once it has completed`, 'JOB_NOT_COMPLETED');
  async function* pages() {
    let after = 0;
    for (;;) {
      const rows = await deps.db.orm
        .select({ id: licenses.id, licenseKey: licenses.licenseKey, status: licenses.status, createdAt: licenses.createdAt })
        .from(licenses)
        .where(and(eq(licenses.jobId, jobId), gt(licenses.id, after)))
        .orderBy(asc(licenses.id))
        .limit(PAGE);
      if (rows.length === 0) return;
      yield rows;
      after = rows.at(-1)!.id;
    }
  }
  return { job, pages };
}
