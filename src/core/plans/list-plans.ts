import { asc, eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { toPlanView } from './plan-view.js';

export async function listPlans(deps: Deps, actor: SellerActor, applicationId: number) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const rows = await deps.db.orm.select().from(plans).where(eq(plans.applicationId, applicationId)).orderBy(asc(plans.id));
  return rows.map(toPlanView);
}
