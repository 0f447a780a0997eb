import { eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { requireVariable } from './require-variable.js';

export async function deleteVariable(deps: Deps, actor: SellerActor, variableId: number) {
  await deps.db.orm.transaction(async (tx) => {
    const variable = await requireVariable(tx, actor, variableId, 'manage');
    await tx.delete(variables).where(eq(variables.id, variableId));
    await writeAudit(tx, actor, { applicationId: variable.applicationId, action: 'variable.deleted', target: `variable:${variableId}`, details: { name: variable.name } });
  });
  return { message: 'Variable deleted' };
}
