import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { badRequest, conflict } from '../errors.js';
import { changeLicense, type LicenseChange } from './change-license.js';

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

/** An unbanned key returns to what its dates and HWIDs say it is. */
const unbanChange: LicenseChange = {
  action: 'license.unbanned',
  apply: (l, now) => {
    if (l.status !== 'banned') throw conflict('License is not banned', 'NOT_BANNED');
    const status = l.expiresAt && l.expiresAt <= now ? 'expired' : l.hwids.length > 0 ? 'active' : 'inactive';
    return { status, banReason: null };
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
      let status = l.status;
      if (status === 'expired' && expiresAt && expiresAt > now) status = l.hwids.length > 0 || l.activatedAt ? 'active' : 'inactive';
      return { durationDays: l.durationDays + days, expiresAt, status };
    },
  });
