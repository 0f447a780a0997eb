import { asc, eq } from 'drizzle-orm';
import { applicationMembers, applications } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { toApplicationView } from './application-view.js';

/** Applications the seller owns or collaborates on, with the seller's role in each. */
export async function listApplications(deps: Deps, actor: SellerActor) {
  const rows = await deps.db.orm
    .select({ app: applications, role: applicationMembers.role })
    .from(applicationMembers)
    .innerJoin(applications, eq(applications.id, applicationMembers.applicationId))
    .where(eq(applicationMembers.developerId, actor.developerId))
    .orderBy(asc(applications.id));
  return rows.map((r) => toApplicationView(r.app, { role: r.role }));
}
