import { asc, eq } from 'drizzle-orm';
import { appUsers } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { toUserView } from '../users/user-view.js';
import { requireLicense } from './require-license.js';

/** Application users registered with a license (user-auth API). */
export async function listLicenseUsers(deps: Deps, actor: SellerActor, licenseId: number) {
  await requireLicense(deps.db, actor, licenseId, 'read');
  const rows = await deps.db.orm.select().from(appUsers).where(eq(appUsers.licenseId, licenseId)).orderBy(asc(appUsers.id));
  return rows.map(toUserView);
}
