import { and, asc, count, eq, ilike } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { containsPattern } from '../like-pattern.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { toPlanView } from './plan-view.js';

export async function listPlans(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = eq(plans.applicationId, applicationId);
  const { limit, offset } = pageWindow(page);
  return readPage(deps.db.orm.select({ n: count() }).from(plans).where(where), deps.db.orm.select().from(plans).where(where).orderBy(asc(plans.id)).limit(limit).offset(offset), toPlanView);
}

/** How many plans an autocomplete offers (Discord shows 25 choices at most). */
const MATCHING_PLANS_MAX = 25;

/** The plans whose name contains `text` (any case), oldest first: what a seller picks from while typing. */
export async function matchingPlans(deps: Deps, actor: SellerActor, applicationId: number, text: string) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const named = text ? ilike(plans.name, containsPattern(text.slice(0, 100))) : undefined;
  const rows = await deps.db.orm
    .select()
    .from(plans)
    .where(and(eq(plans.applicationId, applicationId), named))
    .orderBy(asc(plans.id))
    .limit(MATCHING_PLANS_MAX);
  return rows.map(toPlanView);
}
