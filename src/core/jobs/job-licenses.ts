import { and, asc, eq, gt } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { requireJob } from './get-job.js';

const PAGE = 5000;

/**
 * The keys a generation job made, read in id order a page at a time, so an export of 100,000
 * keys streams in constant memory. Refused while the job runs. A job that failed part-way (its
 * plan deleted, the key space used up, the worker gave up) keeps the batches it committed: they
 * are live keys, so the seller gets them here rather than generating again blind.
 */
export async function jobLicenses(deps: Deps, actor: SellerActor, jobId: number) {
  const job = await requireJob(deps.db.orm, actor, jobId);
  if (job.status !== 'completed' && job.status !== 'failed') throw conflict(`The job is ${job.status}; keys are available once it has finished`, 'JOB_NOT_COMPLETED');
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
