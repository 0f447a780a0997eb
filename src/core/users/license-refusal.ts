import type { LicenseStatus } from '../../db/schema.js';
import type { ClientApplication } from '../applications/application-cache.js';
import { standingRefusal, VALIDATION_MESSAGES, type ValidationCode } from '../licenses/validate-license.js';

export interface LicenseRefusal {
  code: Extract<ValidationCode, 'APP_PAUSED' | 'NOT_FOUND' | 'BANNED' | 'EXPIRED'>;
  message: string;
}

const refusal = <C extends LicenseRefusal['code']>(code: C) => ({ code, message: VALIDATION_MESSAGES[code] });
export const APP_PAUSED: LicenseRefusal = refusal('APP_PAUSED');
const NOT_FOUND: LicenseRefusal = refusal('NOT_FOUND');
const BANNED: LicenseRefusal = refusal('BANNED');
const EXPIRED: LicenseRefusal = refusal('EXPIRED');

/**
 * Why a signed-in user's license no longer opens anything, in the order and with the codes of
 * /validate: the application is paused, the license is gone, banned, or past its end (whether or
 * not the sweep has marked it). Null while it stands. Unlike /validate this binds nothing: a user
 * token is the proof, not a HWID, so an inactive license (a HWID reset) still stands.
 */
export function userLicenseRefusal(app: ClientApplication, license: { status: LicenseStatus; expiresAt: Date | null } | null, now: Date): LicenseRefusal | null {
  if (app.settings.paused) return APP_PAUSED;
  if (!license) return NOT_FOUND;
  const fallen = standingRefusal(license, now);
  return fallen === 'BANNED' ? BANNED : fallen === 'EXPIRED' ? EXPIRED : null;
}
