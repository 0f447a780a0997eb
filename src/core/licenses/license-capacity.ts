import { and, count, eq, inArray, ne, sql } from 'drizzle-orm';
import { jobs, licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { lockApplication } from '../applications/access.js';
import { conflict } from '../errors.js';

/**
 * Keys the application holds plus the keys its unfinished generation jobs have yet to make: a job
 * reserves its whole count when it is accepted, not when its batches land.
 */
async function committedLicenses(tx: Executor, applicationId: number, exceptJobId?: number): Promise<number> {
  const [existing] = await tx.select({ n: count() }).from(licenses).where(eq(licenses.applicationId, applicationId));
  const [reserved] = await tx
    .select({ n: sql<string | number | null>`coalesce(sum(greatest(${jobs.count} - ${jobs.generated}, 0)), 0)` })
    .from(jobs)
    // Generation jobs only: a bulk ban or delete makes no keys.
    .where(
      and(eq(jobs.applicationId, applicationId), eq(jobs.type, 'generate_licenses'), inArray(jobs.status, ['queued', 'running']), exceptJobId === undefined ? undefined : ne(jobs.id, exceptJobId)),
    );
  return Number(existing?.n ?? 0) + Number(reserved?.n ?? 0);
}

/**
 * Refuses keys beyond the per-application limit, counting what queued and running jobs have
 * reserved. Call inside the transaction that then adds the keys or records the job.
 */
export async function assertLicenseCapacity(tx: Executor, applicationId: number, adding: number, limit: number) {
  // The application row's lock, so everything that adds keys to one application (synchronous
  // generation, job acceptance, each batch of a running job) counts one after another.
  await lockApplication(tx, applicationId, 'no key update');
  if ((await committedLicenses(tx, applicationId)) + adding > limit) {
    throw conflict(`An application may hold at most ${limit} licenses`, 'LIMIT_REACHED');
  }
}

/**
 * Room left for a running job's own remainder, checked before each batch: whatever happened since
 * the job was accepted (a lowered limit, keys added by other means), its keys never go past the
 * limit. Other unfinished jobs keep their reservations.
 */
export async function jobLicenseRoom(tx: Executor, applicationId: number, jobId: number, limit: number): Promise<number> {
  await lockApplication(tx, applicationId, 'no key update');
  return limit - (await committedLicenses(tx, applicationId, jobId));
}
