import { and, eq, gt, inArray, isNull, or } from 'drizzle-orm';
import { licenses, plans } from '../../db/schema.js';
import type { Actor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import type { SeatUse } from '../licenses/floating-seats.js';
import type { LeaseUse } from '../licenses/lease-state.js';
import { normalizeKey } from '../licenses/key-format.js';
import { resetOwnLicenseHwid, type CustomerResetOutcome } from '../licenses/reset-license-hwid.js';

export interface CustomerLicense {
  id: number;
  licenseKey: string;
  planName: string;
  status: string;
  expiresAt: Date | null;
  hwidBound: boolean;
  /** Floating seats in use ("1 of 3"); null or absent = the license has none. */
  seats?: SeatUse | null;
  /** Machines holding an offline lease that has not ended, and the latest end; null or absent = none. */
  leases?: LeaseUse | null;
}

export type RedeemOutcome = { ok: true; licenseId: number; planName: string; discordRoleId: string | null } | { ok: false; code: 'NOT_FOUND' | 'ALREADY_YOURS' | 'CLAIMED' | 'UNAVAILABLE' };

/**
 * Claims an unclaimed key of the application for a Discord user (knowing the key is the proof of
 * purchase; banned and expired keys cannot be claimed). The claim is one conditional
 * UPDATE, so two users racing for one key cannot both get it; someone else's key is refused
 * without saying whose it is.
 */
export async function redeemLicense(deps: Deps, actor: Extract<Actor, { kind: 'discord' }>, applicationId: number, rawKey: string): Promise<RedeemOutcome> {
  const key = normalizeKey(rawKey);
  const now = deps.clock.now();
  return deps.db.orm.transaction(async (tx) => {
    const [claimed] = await tx
      .update(licenses)
      .set({ discordUserId: actor.discordUserId, updatedAt: now })
      .where(
        and(
          eq(licenses.applicationId, applicationId),
          eq(licenses.licenseKey, key),
          isNull(licenses.discordUserId),
          inArray(licenses.status, ['inactive', 'active']),
          // Past its expiry is expired, whether or not the sweep has marked it yet.
          or(isNull(licenses.expiresAt), gt(licenses.expiresAt, now)),
        ),
      )
      .returning();
    if (!claimed) {
      const [existing] = await tx
        .select()
        .from(licenses)
        .where(and(eq(licenses.applicationId, applicationId), eq(licenses.licenseKey, key)));
      if (!existing) return { ok: false, code: 'NOT_FOUND' };
      if (existing.discordUserId === actor.discordUserId) return { ok: false, code: 'ALREADY_YOURS' };
      if (existing.discordUserId) return { ok: false, code: 'CLAIMED' };
      // Banned or expired: nothing to claim.
      return { ok: false, code: 'UNAVAILABLE' };
    }
    const [plan] = await tx.select().from(plans).where(eq(plans.id, claimed.planId));
    await writeAudit(tx, actor, { applicationId, action: 'license.redeemed', target: `license:${claimed.id}`, details: { discord_user_id: actor.discordUserId } });
    return { ok: true, licenseId: claimed.id, planName: plan?.name ?? '', discordRoleId: plan?.discordRoleId ?? null };
  });
}

/** A customer's reset of their own license, with the plan's (else the application's) cooldown. */
export function resetCustomerHwid(
  deps: Deps,
  actor: Extract<Actor, { kind: 'discord' }>,
  app: { id: number; settings: { hwid_reset_cooldown_hours: number } },
  licenseId: number,
): Promise<CustomerResetOutcome> {
  return resetOwnLicenseHwid(deps, actor, {
    licenseId,
    ownerCheck: (l) => l.applicationId === app.id && l.discordUserId === actor.discordUserId,
    defaultCooldownHours: app.settings.hwid_reset_cooldown_hours,
  });
}
