import { and, eq } from 'drizzle-orm';
import { appUsers, licenses } from '../../db/schema.js';
import type { ClientApplication } from '../applications/application-cache.js';
import { blacklistRefusal } from '../blacklists/blacklist-refusal.js';
import type { Deps } from '../deps.js';
import { validateLicense } from '../licenses/validate-license.js';
import { APP_PAUSED, userLicenseRefusal } from './license-refusal.js';
import { holdsPassword, userTokenKey, verifyUserToken } from './user-token.js';

export interface ClientCredentials {
  licenseKey?: string | undefined;
  hwid?: string | undefined;
  userToken?: string | undefined;
  ip?: string | null;
}

export type ClientProof = { ok: true; via: 'license' | 'user'; licenseId: number | null; userId: number | null } | { ok: false; code: string; message: string };

const INVALID_TOKEN: ClientProof = { ok: false, code: 'UNAUTHORIZED', message: 'The user token is invalid or expired' };

/**
 * What unlocks private client resources (private variables, file downloads): a license key with
 * a HWID that validates — by the same rules and codes as /validate — or a valid user token of
 * this application whose user still exists, whose password has not been reset since it was
 * issued, and whose license still stands (not deleted, banned or expired, the application not
 * paused: the codes of /validate). A blacklisted HWID or address is refused first, on either path
 * (a user token must not carry a blacklisted device past the list).
 */
export async function proveClient(deps: Deps, app: ClientApplication, creds: ClientCredentials): Promise<ClientProof> {
  const refused = await blacklistRefusal(deps, app, { hwid: creds.hwid, ip: creds.ip });
  if (refused) return { ok: false, code: refused.code, message: refused.message };
  if (creds.userToken) {
    if (app.settings.paused) return { ok: false, ...APP_PAUSED };
    const key = userTokenKey(deps.box, app.appId);
    const now = deps.clock.now();
    const claims = verifyUserToken(key, creds.userToken, app.appId, now.getTime());
    if (!claims) return INVALID_TOKEN;
    // The license is read with the user, in the same statement: no round trip added.
    const [user] = await deps.db.orm
      .select({ id: appUsers.id, licenseId: appUsers.licenseId, passwordHash: appUsers.passwordHash, license: { status: licenses.status, expiresAt: licenses.expiresAt } })
      .from(appUsers)
      .leftJoin(licenses, and(eq(licenses.id, appUsers.licenseId), eq(licenses.applicationId, app.id)))
      .where(and(eq(appUsers.id, Number(claims.sub)), eq(appUsers.applicationId, app.id)));
    if (!user) return { ok: false, code: 'UNAUTHORIZED', message: 'The user no longer exists' };
    // Issued before the password was reset: refused as an expired token is.
    if (!holdsPassword(key, claims, user.passwordHash)) return INVALID_TOKEN;
    const standing = userLicenseRefusal(app, user.license, now);
    if (standing) return { ok: false, ...standing };
    return { ok: true, via: 'user', licenseId: user.licenseId, userId: user.id };
  }
  if (!creds.licenseKey) return { ok: false, code: 'UNAUTHORIZED', message: 'A license key and HWID, or a user token, are required' };
  const outcome = await validateLicense(deps, app, { license_key: creds.licenseKey, hwid: creds.hwid, ip: creds.ip ?? null });
  if (!outcome.success) return { ok: false, code: outcome.code, message: outcome.message };
  return { ok: true, via: 'license', licenseId: outcome.licenseId ?? null, userId: null };
}
