import { asc, count, eq } from 'drizzle-orm';
import { applicationMembers, applications } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { toApplicationView } from './application-view.js';

/** Applications the seller owns or collaborates on, with the seller's role in each. */
export async function listApplications(deps: Deps, actor: SellerActor, page: PageRequest) {
  const mine = eq(applicationMembers.developerId, actor.developerId);
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(applicationMembers).where(mine),
    deps.db.orm
      .select({ app: applications, role: applicationMembers.role })
      .from(applicationMembers)
      .innerJoin(applications, eq(applications.id, applicationMembers.applicationId))
      .where(mine)
      .orderBy(asc(applications.id))
      .limit(limit)
      .offset(offset),
    (r) => toApplicationView(r.app, { role: r.role }),
  );
}
