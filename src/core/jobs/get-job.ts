import { eq } from 'drizzle-orm';
import { jobs } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { toJobView } from './job-view.js';

export async function requireJob(db: Executor, actor: SellerActor, jobId: number) {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, jobId)).limit(1);
  await requireOwnedBy(db, actor, job?.applicationId, 'read', 'Job');
  return job!;
}

export async function getJob(deps: Deps, actor: SellerActor, jobId: number) {
  return toJobView(await requireJob(deps.db.orm, actor, jobId));
}
