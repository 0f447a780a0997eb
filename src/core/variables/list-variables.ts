import { asc, count, eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { MAX_VARIABLES_PER_PAGE } from './variable-rules.js';
import { toVariableView } from './variable-view.js';

/** An application's variables by name, at most MAX_VARIABLES_PER_PAGE a page (`perPage`: the size used, for every page alike). */
export async function listVariables(deps: Deps, actor: SellerActor, applicationId: number, request: { page: number; perPage: number }) {
  const page = { page: request.page, perPage: Math.min(request.perPage, MAX_VARIABLES_PER_PAGE) };
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
  return { total: total?.n ?? 0, perPage: page.perPage, items: rows.map(toVariableView) };
}
