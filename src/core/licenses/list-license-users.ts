import { asc, count, eq } from 'drizzle-orm';
import { appUsers } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { toUserView } from '../users/user-view.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { requireLicense } from './require-license.js';

/** Application users registered with a license (user-auth API). */
export async function listLicenseUsers(deps: Deps, actor: SellerActor, licenseId: number, page: PageRequest) {
  await requireLicense(deps.db, actor, licenseId, 'read');
  const users = eq(appUsers.licenseId, licenseId);
  const { limit, offset } = pageWindow(page);
  return readPage(deps.db.orm.select({ n: count() }).from(appUsers).where(users), deps.db.orm.select().from(appUsers).where(users).orderBy(asc(appUsers.id)).limit(limit).offset(offset), toUserView);
}
