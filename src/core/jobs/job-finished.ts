import { eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { plans, type jobs } from '../../db/schema.js';
import { emitEvent } from '../events/emit-event.js';

type JobRow = typeof jobs.$inferSelect;

/** What a `job.finished` event says: the job's figures, never a key. */
export interface FinishedJobView {
  id: number;
  type: JobRow['type'];
  status: 'completed' | 'failed';
  count: number;
  generated: number;
  error: string | null;
  /** A bulk job's action. */
  action: 'ban' | 'delete' | null;
  /** A generation job's plan (null once deleted). */
  plan: { id: number; name: string } | null;
}

/**
 * Every end of a job (completed, failed in a batch, given up on by the worker) records an internal
 * `job.finished` event in the transaction of its status change, for the log channels. `job` is
 * the row as that change leaves it. A generation job's plan name is read here (once per job).
 */
export async function emitJobFinished(tx: Executor, job: JobRow & { status: 'completed' | 'failed' }): Promise<void> {
  const params = job.params as { plan_id?: unknown; action?: unknown };
  let plan: FinishedJobView['plan'] = null;
  if (job.type === 'generate_licenses' && typeof params.plan_id === 'number') {
    const [row] = await tx.select({ id: plans.id, name: plans.name }).from(plans).where(eq(plans.id, params.plan_id));
    if (row) plan = row;
  }
  const view: FinishedJobView = {
    id: job.id,
    type: job.type,
    status: job.status,
    count: job.count,
    generated: job.generated,
    error: job.error ?? null,
    action: job.type === 'bulk_licenses' && (params.action === 'ban' || params.action === 'delete') ? params.action : null,
    plan,
  };
  await emitEvent(tx, job.applicationId, 'job.finished', { job: view });
}
