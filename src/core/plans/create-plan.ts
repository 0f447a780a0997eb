import { count, eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import { SHARING_OFF, type SharingSettings } from '../applications/application-settings.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { assertGrantablePlanRole } from './plan-role.js';
import { toPlanView } from './plan-view.js';

/** Plans one application may have (more are 409 LIMIT_REACHED). */
export const MAX_PLANS_PER_APP = 100;

export interface PlanFields {
  name: string;
  duration_days: number;
  max_hwids?: number | null | undefined;
  hwid_reset_cooldown_hours?: number | null | undefined;
  discord_role_id?: string | null | undefined;
  /** Replaces the application's sharing setting for this plan's licenses (fields left out: off / alert); null = the application's. */
  sharing?: Partial<SharingSettings> | null | undefined;
  /** Floating seats for this plan's licenses, replacing the application's setting; null = the application's. */
  max_concurrent?: number | null | undefined;
  heartbeat_interval_s?: number | null | undefined;
  /** Longest offline lease in hours for this plan's licenses (0 = leases off), replacing the application's setting; null = the application's. */
  max_offline_hours?: number | null | undefined;
}

/** A plan's sharing override as stored: whole, so it never depends on the application's. */
export const storedPlanSharing = (sharing: Partial<SharingSettings> | null) => (sharing === null ? null : { ...SHARING_OFF, ...stripUndefined(sharing) });

const stripUndefined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

export async function createPlan(deps: Deps, actor: SellerActor, input: PlanFields & { application_id: number }) {
  return deps.db.orm.transaction(async (tx) => {
    // Under the application row's lock: creates count one after another, and a concurrent delete of
    // the application makes this a 404 rather than a foreign-key violation.
    await requireApplication(tx, actor, input.application_id, 'manage', 'no key update');
    const [used] = await tx.select({ n: count() }).from(plans).where(eq(plans.applicationId, input.application_id));
    if ((used?.n ?? 0) >= MAX_PLANS_PER_APP) throw conflict(`An application may have at most ${MAX_PLANS_PER_APP} plans`, 'LIMIT_REACHED');
    await assertGrantablePlanRole(tx, input.application_id, input.discord_role_id);
    const [plan] = await tx
      .insert(plans)
      .values({
        applicationId: input.application_id,
        name: input.name,
        durationDays: input.duration_days,
        maxHwids: input.max_hwids ?? null,
        hwidResetCooldownHours: input.hwid_reset_cooldown_hours ?? null,
        discordRoleId: input.discord_role_id ?? null,
        sharing: storedPlanSharing(input.sharing ?? null),
        maxConcurrent: input.max_concurrent ?? null,
        heartbeatIntervalS: input.heartbeat_interval_s ?? null,
        maxOfflineHours: input.max_offline_hours ?? null,
      })
      .returning();
    await writeAudit(tx, actor, { applicationId: input.application_id, action: 'plan.created', target: `plan:${plan!.id}`, details: { ...input } });
    return toPlanView(plan!);
  });
}
