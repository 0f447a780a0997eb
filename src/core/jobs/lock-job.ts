import { eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { jobs } from '../../db/schema.js';
import { type ApplicationLock, lockApplication } from '../applications/access.js';

/**
 * A job's row for a batch, locked after its application's row: the order an application's delete
 * takes them (the application, then its jobs through the cascade). Locked the other way round, a
 * batch beside a delete deadlocked, and Postgres broke the cycle by aborting one side after a
 * second (the delete answered 409, or the batch failed a try). In this order the batch waits for
 * the delete and then finds its job gone. `appLock` is the strongest lock the batch takes on the
 * application later, so it never has to upgrade one it holds. `noWait` is for the job row only.
 */
export async function lockJobBehindApplication(tx: Executor, jobId: number, appLock: ApplicationLock, jobLock: { noWait?: true } = {}) {
  const [owner] = await tx.select({ applicationId: jobs.applicationId }).from(jobs).where(eq(jobs.id, jobId));
  if (!owner) return undefined;
  await lockApplication(tx, owner.applicationId, appLock);
  const [job] = await tx
    .select()
    .from(jobs)
    .where(eq(jobs.id, jobId))
    .for('update', jobLock.noWait ? { noWait: true } : {});
  return job;
}
