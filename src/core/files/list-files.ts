import { asc, count, eq } from 'drizzle-orm';
import { files } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { toFileView } from './file-view.js';

export async function listFiles(deps: Deps, actor: SellerActor, applicationId: number, page: { page: number; perPage: number }) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = eq(files.applicationId, applicationId);
  const [total] = await deps.db.orm.select({ n: count() }).from(files).where(where);
  const rows = await deps.db.orm
    .select()
    .from(files)
    .where(where)
    .orderBy(asc(files.id))
    .limit(page.perPage)
    .offset((page.page - 1) * page.perPage);
  return { total: total?.n ?? 0, items: rows.map(toFileView) };
}
