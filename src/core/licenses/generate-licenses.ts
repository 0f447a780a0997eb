import type { plans } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { Actor, SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { emitEvent } from '../events/emit-event.js';
import { badRequest } from '../errors.js';
import { requirePlan } from '../plans/require-plan.js';
import { keySpecFrom } from './key-format.js';
import { assertLicenseCapacity } from './license-capacity.js';
import { countGenerated, insertUniqueKeys } from './insert-unique-keys.js';
import { toPlanRef } from './license-view.js';

export interface GenerateLicensesInput {
  plan_id: number;
  count: number;
  format: 'random' | 'custom';
  prefix?: string | null | undefined;
  custom_format?: string | null | undefined;
  notes?: string | null | undefined;
  discord_user_id?: string | null | undefined;
}

/**
 * Whether `count` keys are made within the request (up to `maxSyncGenerate`) or by a bulk
 * generation job: the one place that decides, for the HTTP route and the Discord command alike.
 */
export const generatesNow = (deps: Pick<Deps, 'limits'>, count: number) => count <= deps.limits.maxSyncGenerate;

export async function generateLicenses(deps: Deps, actor: SellerActor, input: GenerateLicensesInput) {
  if (!generatesNow(deps, input.count)) {
    throw badRequest(`count may be at most ${deps.limits.maxSyncGenerate} per request`, 'VALIDATION_ERROR', [{ path: 'count', message: 'too large' }]);
  }
  keySpecFrom(input); // a bad format is refused before the plan is looked up, as before
  return deps.db.orm.transaction(async (tx) => {
    // Locked (the application, then the plan): a plan deleted meanwhile is a 404, never a
    // foreign-key violation at the insert.
    const { plan } = await requirePlan(tx, actor, input.plan_id, 'manage', true);
    return issueLicenses(tx, deps, actor, plan, input);
  });
}

/**
 * The keys of `plan`, made inside the caller's transaction with everything /generate leaves
 * behind (capacity check, daily count, license.generated event, audit entry). /generate calls it
 * after the seller's role check; a store order (src/core/integrations) with its order row.
 */
export async function issueLicenses(tx: Executor, deps: Deps, actor: Actor, plan: typeof plans.$inferSelect, input: Omit<GenerateLicensesInput, 'plan_id'>) {
  const spec = keySpecFrom(input);
  const now = deps.clock.now();
  await assertLicenseCapacity(tx, plan.applicationId, input.count, deps.limits.maxLicensesPerApplication);
  const rows = await insertUniqueKeys(tx, spec, input.count, {
    applicationId: plan.applicationId,
    planId: plan.id,
    durationDays: plan.durationDays,
    notes: input.notes ?? null,
    discordUserId: input.discord_user_id ?? null,
  });
  await countGenerated(tx, plan.applicationId, now.toISOString().slice(0, 10), rows.length);
  await emitEvent(tx, plan.applicationId, 'license.generated', {
    plan_id: plan.id,
    count: rows.length,
    licenses: rows.map((l) => ({ id: l.id, license_key: l.licenseKey })),
  });
  await writeAudit(tx, actor, {
    applicationId: plan.applicationId,
    action: 'license.generated',
    target: `plan:${plan.id}`,
    details: { count: rows.length, format: input.format, first_id: rows[0]?.id, last_id: rows.at(-1)?.id },
  });
  return rows.map((l) => ({
    id: l.id,
    license_key: l.licenseKey,
    status: l.status,
    created_at: l.createdAt.toISOString(),
    updated_at: l.updatedAt.toISOString(),
    plan: toPlanRef(plan),
  }));
}
