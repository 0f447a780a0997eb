/** Job: the periodic pass — expiry sweep (notices, expired licenses) and forgetting old rows. */
import { and, isNotNull, lt, sql } from 'drizzle-orm';
import type { JobsConfig } from '../../config.js';
import type { Deps } from '../../core/deps.js';
import { expirySweep } from '../../core/licenses/expiry-sweep.js';
import { idempotencyKeys, outbox } from '../../db/schema.js';
import type { HandlerContext } from '../handlers.js';
import type { JobDefinition } from './job-definition.js';

/** The scheduler's id (one per installation), run every EXPIRY_SWEEP_EVERY. */
export const expirySweepSchedulerId = (installation: string) => `expiry-sweep-${installation}`;

export async function maintenanceTry(deps: Deps, config: Pick<JobsConfig, 'expiryNoticeDays'>) {
  const swept = await expirySweep(deps, { noticeDays: config.expiryNoticeDays });
  const now = deps.clock.now().getTime();
  await deps.db.orm.delete(outbox).where(and(isNotNull(outbox.relayedAt), lt(outbox.relayedAt, new Date(now - 7 * 86_400_000))));
  await deps.db.orm.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, sql`${new Date(now - 86_400_000).toISOString()}::timestamptz`));
  return swept;
}

export const maintenanceJob: JobDefinition = {
  queue: 'maintenance',
  concurrency: () => 1,
  process: (ctx: HandlerContext) => maintenanceTry(ctx.deps, ctx.config),
};
