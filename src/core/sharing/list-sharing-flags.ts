import { and, count, desc, eq, gte } from 'drizzle-orm';
import { licenses, sharingFlags } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { toSharingFlagView } from './sharing-flag-view.js';

/** How far back the list of flagged licenses goes. */
const SHARING_LIST_DAYS = 30;

/** Licenses flagged for sharing in the last 30 days, newest first, with their figures. */
export async function listSharingFlags(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const since = new Date(deps.clock.now().getTime() - SHARING_LIST_DAYS * 86_400_000);
  const where = and(eq(sharingFlags.applicationId, applicationId), gte(sharingFlags.createdAt, since));
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(sharingFlags).where(where),
    deps.db.orm
      .select({ flag: sharingFlags, licenseKey: licenses.licenseKey })
      .from(sharingFlags)
      .innerJoin(licenses, eq(licenses.id, sharingFlags.licenseId))
      .where(where)
      .orderBy(desc(sharingFlags.createdAt), desc(sharingFlags.id))
      .limit(limit)
      .offset(offset),
    (r) => toSharingFlagView(r.flag, r.licenseKey),
  );
}
