import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { requireLicense } from './require-license.js';

/**
 * Application users registered with a license. User accounts arrive with the user-auth API; until
 * then no license can have any, and the list is honestly empty after the access check.
 */
export async function listLicenseUsers(deps: Deps, actor: SellerActor, licenseId: number): Promise<unknown[]> {
  await requireLicense(deps.db.orm, actor, licenseId, 'read');
  return [];
}
