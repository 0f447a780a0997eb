import { count, eq } from 'drizzle-orm';
import { licenses, plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { requirePlan } from './require-plan.js';
import { applyBulkBatch } from '../licenses/bulk-license-action.js';
import { INT4_MAX } from '../../db/int4.js';

/** Keys deleted (with their audit entries and events) per statement of a forced delete. */
const FORCE_DELETE_BATCH = 1000;

/** Refuses while licenses use the plan, unless `force`, which deletes those licenses too. */
export async function deletePlan(deps: Deps, actor: SellerActor, planId: number, opts: { force: boolean }) {
  return deps.db.orm.transaction(async (tx) => {
    // The application row's lock, as every writer of keys takes it (generation, jobs, store orders):
    // no key of this plan can land between this count and the delete.
    const { plan } = await requirePlan(tx, actor, planId, 'manage', true);
    const [used] = await tx.select({ n: count() }).from(licenses).where(eq(licenses.planId, planId));
    const inUse = used?.n ?? 0;
    if (inUse > 0 && !opts.force) {
      throw conflict(`${inUse} licenses use this plan; delete them first or pass force=true`, 'PLAN_IN_USE');
    }
    // As a bulk delete of the plan's keys: each key leaves its audit entry and its license.deleted
    // event (webhook receivers learn the keys are gone), a batch at a time, all in this transaction.
    const byPlan = { action: 'delete' as const, filters: { plan_id: planId }, reason: null };
    for (let afterId = 0, changed = inUse; changed > 0; ) {
      ({ changed, lastId: afterId } = await applyBulkBatch(tx, actor, plan.applicationId, byPlan, { afterId, upToId: INT4_MAX, limit: FORCE_DELETE_BATCH, now: deps.clock.now() }));
    }
    await tx.delete(plans).where(eq(plans.id, planId));
    await writeAudit(tx, actor, { applicationId: plan.applicationId, action: 'plan.deleted', target: `plan:${planId}`, details: { name: plan.name, licenses_deleted: inUse } });
    return { licenses_deleted: inUse };
  });
}
