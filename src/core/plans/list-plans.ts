import { asc, count, eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { toPlanView } from './plan-view.js';

export async function listPlans(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = eq(plans.applicationId, applicationId);
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(plans).where(where),
    deps.db.orm.select().from(plans).where(where).orderBy(asc(plans.id)).limit(limit).offset(offset),
    toPlanView,
  );
}
