import type { ClientApplication } from '../applications/application-cache.js';
import type { Deps } from '../deps.js';
import type { LicenseState } from './license-lookup.js';
import type { LeaseCode, LeasePayload } from '../../client/lease.js';
import { recordLease } from './lease-state.js';
import { holdSeat, SEATS_FULL_MESSAGE, seatSettingsOf } from './floating-seats.js';
import { VALIDATION_MESSAGES, validateLicense } from './validate-license.js';

/**
 * Offline leases (API.md "Offline leases and floating seats"): after the validate decision, a
 * compact token the client keeps and checks offline with the application's public key:
 * `base64url(payload JSON) "." base64url(Ed25519 signature over the first part's ASCII)`.
 *
 * Offline, the client has only its own clock to go by. A lease therefore never lasts longer than
 * `max_offline_hours` (the plan's, else the application's) nor outlives its license, and carries
 * `issued_at` so the SDK refuses a lease "from the future" (a clock set back before it was issued).
 * A clock set back within the lease can still keep it alive until its end: that cannot be
 * prevented offline, and is bounded by `max_offline_hours`.
 *
 * Where the license has floating seats (`max_concurrent`), a lease is one more way to run: it is
 * issued only to a machine that holds a live seat or takes a free one with this request (the
 * heartbeat's seat statement); otherwise the answer is SEATS_FULL, as the heartbeat's. The seat then
 * lapses as any other unless heartbeats renew it.
 *
 * Each lease issued is written down (lease-state.ts) so the seller's and the customer's views can
 * show which machines may run offline and until when.
 */

export interface LeaseOutcome {
  success: boolean;
  code: LeaseCode;
  message: string;
  lease?: string;
  /** ISO 8601, the same as in the lease. */
  lease_expires_at?: string;
}

export interface LeaseInput {
  license_key: string;
  hwid: string;
  /** Hours asked for (1..8760); capped by `max_offline_hours`. Default: the cap. */
  ttl_hours?: number | undefined;
  ip?: string | null;
}

/**
 * Signs a lease's first part with the application's key. Injected by the door that holds the
 * signing machinery (the same key and signer as every client answer); the key never leaves it.
 */
export type LeaseSigner = (message: Buffer) => Buffer;

const HOUR_MS = 3_600_000;
const LEASES_DISABLED_MESSAGE = 'Offline leases are off for this license';

/** The longest lease of a license in hours: the plan's setting, else the application's; 0 = off. */
function maxOfflineHoursOf(app: ClientApplication, license: Pick<LicenseState, 'planMaxOfflineHours'>): number {
  return license.planMaxOfflineHours ?? app.settings.max_offline_hours;
}

/**
 * The validate decision (the same lookup, HWID binding and blacklist refusal, nothing more read),
 * then, for a VALID key where leases are on, a signed lease and the one statement that records it
 * (shared by the leases answered in the same turn): one round trip more than validate, on a path a
 * machine takes once per half-lease (hours).
 */
export async function leaseLicense(deps: Deps, app: ClientApplication, input: LeaseInput, sign: LeaseSigner): Promise<LeaseOutcome> {
  const hwid = input.hwid.trim();
  const seen: { license: LicenseState | null } = { license: null };
  const decision = await validateLicense(
    deps,
    app,
    { license_key: input.license_key, hwid, ip: input.ip ?? null },
    {
      // To see the plan's settings without a second read; and, as a heartbeat does, where the
      // license counts floating seats the seats decide which machines run: no HWID slot is bound
      // (a machine refused a seat once took the slot, and the seat's holder got HWID_MISMATCH).
      hwidSlots: (license) => {
        seen.license = license;
        return seatSettingsOf(app, license) === null;
      },
    },
  );
  const base = { success: decision.success, code: decision.code as LeaseCode, message: decision.message };
  const license = decision.license;
  if (!decision.success || !license || !seen.license) return base;
  const maxHours = maxOfflineHoursOf(app, seen.license);
  if (maxHours === 0) return { success: false, code: 'LEASES_DISABLED', message: LEASES_DISABLED_MESSAGE };

  const now = deps.clock.now();
  // Where the license counts floating seats, a lease goes only to a machine that holds one or can
  // take one now, as a heartbeat's seat: a machine refused a seat must not run offline instead.
  const seats = seatSettingsOf(app, seen.license);
  if (seats) {
    const seat = await holdSeat(deps, seen.license.id, hwid, seats, now);
    if (!seat) return { success: false, code: 'NOT_FOUND', message: VALIDATION_MESSAGES.NOT_FOUND };
    if (!seat.granted) return { success: false, code: 'SEATS_FULL', message: SEATS_FULL_MESSAGE };
  }
  const hours = Math.min(input.ttl_hours ?? maxHours, maxHours);
  const licenseEnd = license.expires_at === null ? null : new Date(license.expires_at);
  const end = new Date(Math.min(now.getTime() + hours * HOUR_MS, licenseEnd?.getTime() ?? Number.POSITIVE_INFINITY));
  const payload: LeasePayload = {
    v: 1,
    app_id: app.appId,
    license_key: license.license_key,
    hwid,
    plan: { id: license.plan.id, name: license.plan.name },
    license_expires_at: license.expires_at,
    lease_expires_at: end.toISOString(),
    issued_at: now.toISOString(),
  };
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = sign(Buffer.from(body, 'ascii')).toString('base64url');
  // Recorded before the answer, so a view read after the client has its lease shows it.
  await recordLease(deps.db, { licenseId: seen.license.id, hwid, issuedAt: now, expiresAt: end });
  return { ...base, lease: `${body}.${signature}`, lease_expires_at: payload.lease_expires_at };
}
