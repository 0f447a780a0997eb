import { eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { storedPlanSharing, type PlanFields } from './create-plan.js';
import { assertGrantablePlanRole } from './plan-role.js';
import { toPlanView } from './plan-view.js';
import { requirePlan } from './require-plan.js';

/** Changes apply to keys generated afterwards; existing keys keep the duration they were sold with. */
export async function updatePlan(deps: Deps, actor: SellerActor, planId: number, input: Partial<PlanFields>) {
  return deps.db.orm.transaction(async (tx) => {
    // Locked as the other plan writers lock it (a delete racing this change makes it a 404, not a 500).
    const { plan } = await requirePlan(tx, actor, planId, 'manage', true);
    await assertGrantablePlanRole(tx, plan.applicationId, input.discord_role_id);
    const [updated] = await tx
      .update(plans)
      .set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.duration_days !== undefined ? { durationDays: input.duration_days } : {}),
        ...(input.max_hwids !== undefined ? { maxHwids: input.max_hwids } : {}),
        ...(input.hwid_reset_cooldown_hours !== undefined ? { hwidResetCooldownHours: input.hwid_reset_cooldown_hours } : {}),
        ...(input.discord_role_id !== undefined ? { discordRoleId: input.discord_role_id } : {}),
        ...(input.sharing !== undefined ? { sharing: storedPlanSharing(input.sharing) } : {}),
        ...(input.max_concurrent !== undefined ? { maxConcurrent: input.max_concurrent } : {}),
        ...(input.heartbeat_interval_s !== undefined ? { heartbeatIntervalS: input.heartbeat_interval_s } : {}),
        ...(input.max_offline_hours !== undefined ? { maxOfflineHours: input.max_offline_hours } : {}),
        updatedAt: deps.clock.now(),
      })
      .where(eq(plans.id, planId))
      .returning();
    await writeAudit(tx, actor, { applicationId: plan.applicationId, action: 'plan.updated', target: `plan:${planId}`, details: { ...input } });
    return toPlanView(updated!);
  });
}
