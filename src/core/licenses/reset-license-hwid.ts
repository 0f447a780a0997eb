import { eq } from 'drizzle-orm';
import { licenses, plans } from '../../db/schema.js';
import type { Actor, SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { emitEvent, licenseEventData } from '../events/emit-event.js';
import { changeLicense } from './change-license.js';

const RESET_MESSAGE = 'HWID reset and license disabled';

const resetColumns = (l: typeof licenses.$inferSelect, now: Date) => ({
  hwids: [] as string[],
  // The key waits for its next activation; a banned or expired key keeps that status.
  status: l.status === 'active' ? ('inactive' as const) : l.status,
  lastHwidResetAt: now,
});

/** A seller reset: no cooldown. `expires_at` never moves. */
export async function resetLicenseHwid(deps: Deps, actor: SellerActor, licenseId: number) {
  const license = await changeLicense(deps, actor, licenseId, { action: 'license.hwid_reset', event: 'license.hwid_reset', apply: resetColumns });
  return { message: RESET_MESSAGE, license: { id: license.id, license_key: license.license_key, status: license.status, hwid: null } };
}

export type CustomerResetOutcome = { ok: true; licenseId: number; licenseKey: string } | { ok: false; code: 'COOLDOWN'; nextAllowedAt: Date } | { ok: false; code: 'NOT_FOUND' };

/**
 * A customer's own reset, honouring the cooldown (the plan's, else `defaultCooldownHours`: the
 * application's). The last reset time lives in the license row, so a restart does not forgive the
 * cooldown; the row is locked while deciding, so two resets racing each other cannot both pass.
 * Everything it reads goes through the transaction: a read on the pool while it holds its
 * connection waited for a second one, which the embedded database (one connection) never gives,
 * and which a pool's worth of resets at once left none to give on Postgres — every route hung.
 */
export async function resetOwnLicenseHwid(
  deps: Deps,
  actor: Actor,
  input: { licenseId: number; ownerCheck: (l: typeof licenses.$inferSelect) => boolean; defaultCooldownHours: number },
): Promise<CustomerResetOutcome> {
  const now = deps.clock.now();
  return deps.db.orm.transaction(async (tx) => {
    // The license locked, with its plan's cooldown, in one statement.
    const [row] = await tx
      .select({ license: licenses, planCooldownHours: plans.hwidResetCooldownHours })
      .from(licenses)
      .leftJoin(plans, eq(plans.id, licenses.planId))
      .where(eq(licenses.id, input.licenseId))
      .for('update', { of: licenses });
    const license = row?.license;
    if (!license || !input.ownerCheck(license)) return { ok: false, code: 'NOT_FOUND' };
    const hours = row.planCooldownHours ?? input.defaultCooldownHours;
    if (license.lastHwidResetAt && hours > 0) {
      const next = new Date(license.lastHwidResetAt.getTime() + hours * 3_600_000);
      if (next > now) return { ok: false, code: 'COOLDOWN', nextAllowedAt: next };
    }
    const [updated] = await tx
      .update(licenses)
      .set({ ...resetColumns(license, now), updatedAt: now })
      .where(eq(licenses.id, license.id))
      .returning();
    await emitEvent(tx, license.applicationId, 'license.hwid_reset', licenseEventData(updated!));
    await writeAudit(tx, actor, { applicationId: license.applicationId, action: 'license.hwid_reset', target: `license:${license.id}`, details: { license_key: license.licenseKey, by: 'customer' } });
    return { ok: true, licenseId: license.id, licenseKey: license.licenseKey };
  });
}
