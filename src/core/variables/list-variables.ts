import { asc, count, eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { toVariableView } from './variable-view.js';

export async function listVariables(deps: Deps, actor: SellerActor, applicationId: number, page: { page: number; perPage: number }) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = eq(variables.applicationId, applicationId);
  const [total] = await deps.db.orm.select({ n: count() }).from(variables).where(where);
  const rows = await deps.db.orm
    .select()
    .from(variables)
    .where(where)
    .orderBy(asc(variables.name))
    .limit(page.perPage)
    .offset((page.page - 1) * page.perPage);
  return { total: total?.n ?? 0, items: rows.map(toVariableView) };
}
