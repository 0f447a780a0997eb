import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { badRequest, conflict } from '../errors.js';
import { changeLicense, type LicenseChange } from './change-license.js';
import type { LicenseRow } from './require-license.js';

/** Seller actions on one license. Each is a `changeLicense` with its own rule. */

export const updateLicenseNotes = (deps: Deps, actor: SellerActor, licenseId: number, notes: string | null) =>
  changeLicense(deps, actor, licenseId, {
    action: 'license.notes_updated',
    details: { notes },
    apply: () => ({ notes }),
  });

/** The ban, as one license's action and the bulk ban share it. */
export const banChange = (reason: string | null): LicenseChange => ({
  action: 'license.banned',
  event: 'license.banned',
  details: { reason },
  apply: () => ({ status: 'banned', banReason: reason }),
});

export const banLicense = (deps: Deps, actor: SellerActor, licenseId: number, reason: string | null) => changeLicense(deps, actor, licenseId, banChange(reason));

/**
 * The status a key stands at once a ban or an expiry is lifted, the one rule unban and extend
 * share. Past its end: expired. Bound to a device, or activated and in use since its last reset
 * (a key of an application without the HWID lock is activated with no HWID; an activation sets
 * `last_used`): active, so that the expiry notices still reach it. Otherwise inactive, as API.md
 * puts it: never activated, or reset and waiting for its next activation (which /validate makes
 * without moving its dates).
 */
function standingStatus(l: Pick<LicenseRow, 'hwids' | 'activatedAt' | 'lastHwidResetAt' | 'lastUsed'>, expiresAt: Date | null, now: Date) {
  if (expiresAt && expiresAt <= now) return 'expired' as const;
  if (l.hwids.length > 0) return 'active' as const;
  const usedSinceReset = l.lastHwidResetAt === null || (l.lastUsed !== null && l.lastUsed > l.lastHwidResetAt);
  return l.activatedAt !== null && usedSinceReset ? ('active' as const) : ('inactive' as const);
}

/** An unbanned key returns to what its dates, HWIDs and resets say it is. */
const unbanChange: LicenseChange = {
  action: 'license.unbanned',
  apply: (l, now) => {
    if (l.status !== 'banned') throw conflict('License is not banned', 'NOT_BANNED');
    return { status: standingStatus(l, l.expiresAt, now), banReason: null };
  },
};

export const unbanLicense = (deps: Deps, actor: SellerActor, licenseId: number) => changeLicense(deps, actor, licenseId, unbanChange);

/**
 * Adds days. A key never activated gets a longer duration (its clock has not started); an
 * activated one a later `expires_at`, which may bring an expired key back.
 */
/** Past this an end date no longer round-trips through ISO strings and Postgres; use a lifetime plan. */
const LATEST_END = Date.UTC(9999, 11, 31);

export const extendLicense = (deps: Deps, actor: SellerActor, licenseId: number, days: number) =>
  changeLicense(deps, actor, licenseId, {
    action: 'license.extended',
    details: { days },
    apply: (l, now) => {
      if (l.durationDays === 0) throw conflict('A lifetime license cannot be extended', 'LIFETIME_LICENSE');
      const expiresAt = l.expiresAt ? new Date(l.expiresAt.getTime() + days * 86_400_000) : null;
      const end = expiresAt?.getTime() ?? now.getTime() + (l.durationDays + days) * 86_400_000;
      if (end > LATEST_END) {
        throw badRequest('The license would end after the year 9999; use a lifetime plan instead', 'VALIDATION_ERROR', [{ path: 'days', message: 'too many days in total' }]);
      }
      const status = l.status === 'expired' && expiresAt && expiresAt > now ? standingStatus(l, expiresAt, now) : l.status;
      return { durationDays: l.durationDays + days, expiresAt, status };
    },
  });
