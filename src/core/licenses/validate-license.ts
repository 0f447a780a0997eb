import type { ClientApplication } from '../applications/application-cache.js';
import { BLACKLISTED_MESSAGE } from '../blacklists/blacklist-cache.js';
import type { Deps } from '../deps.js';
import { watchesSharing } from '../sharing/watches-sharing.js';
import { lastUseIsDue } from '../last-used.js';
import { activateLicense } from './activate-license.js';
import { normalizeKey } from './key-format.js';
import type { LicenseState } from './license-lookup.js';
import { effectiveStatus } from './license-view.js';
import type { LicenseStatus } from '../../db/schema.js';

export type ValidationCode = 'VALID' | 'NOT_FOUND' | 'EXPIRED' | 'BANNED' | 'HWID_REQUIRED' | 'HWID_MISMATCH' | 'APP_PAUSED' | 'BLACKLISTED';

export interface ValidationOutcome {
  success: boolean;
  code: ValidationCode;
  message: string;
  license?: {
    license_key: string;
    status: LicenseState['status'];
    plan: { id: number; name: string; duration_days: number };
    activated_at: string | null;
    expires_at: string | null;
  };
  /** For callers inside Keycord (user accounts, file downloads); not part of the response. */
  licenseId?: number;
}

export interface ValidateLicenseInput {
  license_key: string;
  hwid?: string | undefined;
  ip?: string | null;
}

export interface ValidateLicenseOptions {
  /**
   * Asked once the key is found: false = this license's machines are decided elsewhere (floating
   * seats), so the HWID slot rule (`max_hwids`) is not applied and no HWID is bound. Default: true.
   */
  hwidSlots?: (license: LicenseState) => boolean;
  /** The key's lookup, where a caller reads more in the same probe (a heartbeat: its seat). Default: `deps.lookup.find`. */
  lookup?: (applicationId: number, licenseKey: string) => Promise<LicenseState | null>;
}

/** What each validation code says; the user-token check (users/license-refusal.ts) answers in the same words. */
export const VALIDATION_MESSAGES: Record<ValidationCode, string> = {
  VALID: 'License is valid',
  NOT_FOUND: 'License not found',
  EXPIRED: 'License has expired',
  BANNED: 'License is banned',
  HWID_REQUIRED: 'This application requires a HWID',
  HWID_MISMATCH: 'License is bound to another device',
  APP_PAUSED: 'Application is paused',
  BLACKLISTED: BLACKLISTED_MESSAGE,
};

function outcome(code: ValidationCode, license?: LicenseState, message = VALIDATION_MESSAGES[code]): ValidationOutcome {
  const result: ValidationOutcome = { success: code === 'VALID', code, message };
  if (license) {
    result.licenseId = license.id;
    result.license = {
      license_key: license.licenseKey,
      status: license.status,
      plan: { id: license.planId, name: license.planName, duration_days: license.planDurationDays },
      activated_at: license.activatedAt?.toISOString() ?? null,
      expires_at: license.expiresAt?.toISOString() ?? null,
    };
  }
  return result;
}

/**
 * The client check of a key. The common case — a known key, already bound to this HWID — costs
 * one (shared) read and no write: `last_used` and counters are coalesced by the usage recorder.
 * Anything that changes state (first activation, a new HWID slot, expiry) is written before the
 * answer, atomically, so concurrent first activations bind exactly `max_hwids` HWIDs.
 */
export async function validateLicense(deps: Deps, app: ClientApplication, input: ValidateLicenseInput, options: ValidateLicenseOptions = {}): Promise<ValidationOutcome> {
  const now = deps.clock.now();
  // What the lookup found, for the usage record below. An object the decision fills in rather than
  // a wrapping closure: this runs on every validation and heartbeat.
  const seen: Seen = { license: null };
  const result = await decide(deps, app, input, now, options, seen);
  const ip = input.ip ?? null;
  const use = result.success && result.licenseId !== undefined && lastUseIsStale(seen.license, now, ip) ? { licenseId: result.licenseId, ip } : undefined;
  deps.usage.recordValidation(app.id, now, result.success, use, {
    licenseId: result.licenseId ?? null,
    code: result.code,
    hwid: input.hwid?.slice(0, 256) ?? null,
    ip: input.ip ?? null,
    watched: seen.license !== null && watchesSharing(app, seen.license),
  });
  return result;
}

/**
 * A license's `last_used` is kept to the minute (last-used.ts), and written again at once when
 * the address changes. The validation log still has every validation.
 */
function lastUseIsStale(license: LicenseState | null, now: Date, ip: string | null): boolean {
  return !license || license.lastIp !== ip || lastUseIsDue(license.lastUsed, now);
}

/** The license the decision's lookup found (null: none, or no lookup was made). */
interface Seen {
  license: LicenseState | null;
}

/**
 * Whether a known license still stands, whatever device asks: banned, or past its end (whether or
 * not the sweep has marked it), in that order. The rule /validate applies after its lookup, and
 * a user token's check (users/license-refusal.ts) applies to the license read with the user.
 */
export function standingRefusal(license: { status: LicenseStatus; expiresAt: Date | null }, now: Date): 'BANNED' | 'EXPIRED' | null {
  if (license.status === 'banned') return 'BANNED';
  return effectiveStatus(license.status, license.expiresAt, now) === 'expired' ? 'EXPIRED' : null;
}

async function decide(deps: Deps, app: ClientApplication, input: ValidateLicenseInput, now: Date, options: ValidateLicenseOptions, seen: Seen): Promise<ValidationOutcome> {
  if (app.settings.paused) return outcome('APP_PAUSED');
  // Before the key is even looked up: a blacklisted device or address binds and changes nothing.
  // The list is held in process (BlacklistCache): no database work unless it changed.
  const blacklist = deps.blacklists.peek(app) ?? (await deps.blacklists.get(app, deps.db));
  if (blacklist.blocks(input.hwid?.trim(), input.ip)) return outcome('BLACKLISTED');
  const key = normalizeKey(input.license_key);
  const license = (seen.license = await (options.lookup ? options.lookup(app.id, key) : deps.lookup.find(app.id, key)));
  if (!license) return outcome('NOT_FOUND');
  const hwidSlots = options.hwidSlots?.(license) ?? true;
  const fallen = standingRefusal(license, now);
  if (fallen === 'BANNED') return outcome('BANNED', license);
  if (fallen === 'EXPIRED') return outcome('EXPIRED', await markExpired(deps, license, now));
  const hwid = input.hwid?.trim() || undefined;
  if (app.settings.hwid_lock && !hwid) return outcome('HWID_REQUIRED', license);
  const hwidLock = app.settings.hwid_lock && hwidSlots;
  const bound = hwidLock ? license.hwids.includes(hwid!) : true;
  if (license.status === 'active' && bound) return outcome('VALID', license);

  const maxHwids = license.planMaxHwids ?? app.settings.max_hwids;
  const activated = await activateLicense(deps, license, { hwid: hwidLock ? hwid! : null, maxHwids, now, ip: input.ip ?? null });
  if (activated.kind === 'activated') {
    return outcome('VALID', activated.license, license.activatedAt === null ? 'License activated successfully' : VALIDATION_MESSAGES.VALID);
  }
  // Another request changed the license meanwhile (a concurrent activation, a ban): decide
  // again on what is now stored, without trying to write a second time.
  const fresh = activated.license;
  if (!fresh) return outcome('NOT_FOUND');
  if (fresh.status === 'banned') return outcome('BANNED', fresh);
  if (fresh.status === 'expired' || (fresh.expiresAt && fresh.expiresAt <= now)) return outcome('EXPIRED', fresh);
  if (!hwidLock || fresh.hwids.includes(hwid!)) return fresh.status === 'active' ? outcome('VALID', fresh) : outcome('HWID_MISMATCH', fresh);
  return outcome('HWID_MISMATCH', fresh);
}

async function markExpired(deps: Deps, license: LicenseState, now: Date): Promise<LicenseState> {
  if (license.status === 'expired') return license;
  await deps.db.query(`update licenses set status = 'expired', updated_at = $2 where id = $1 and status = 'active' and expires_at <= $2`, [license.id, now.toISOString()]);
  return { ...license, status: 'expired' };
}
