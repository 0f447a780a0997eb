import { eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { isUniqueViolation } from '../developers/register-developer.js';
import { conflict, notFound } from '../errors.js';
import type { VariableFields } from './create-variable.js';
import { requireVariable } from './require-variable.js';
import { toVariableView } from './variable-view.js';

export async function updateVariable(deps: Deps, actor: SellerActor, variableId: number, input: Partial<VariableFields>) {
  try {
    return await deps.db.orm.transaction(async (tx) => {
      const variable = await requireVariable(tx, actor, variableId, 'manage');
      const [updated] = await tx
        .update(variables)
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.value !== undefined ? { value: input.value } : {}),
          ...(input.public !== undefined ? { public: input.public } : {}),
          updatedAt: deps.clock.now(),
        })
        .where(eq(variables.id, variableId))
        .returning();
      // Deleted after it was read, while this update waited on its row: as if it had come a moment later.
      if (!updated) throw notFound('Variable');
      await writeAudit(tx, actor, {
        applicationId: variable.applicationId,
        action: 'variable.updated',
        target: `variable:${variableId}`,
        details: {
          name: updated.name,
          ...(input.name !== undefined && input.name !== variable.name ? { renamed_from: variable.name } : {}),
          ...(input.public !== undefined ? { public: input.public } : {}),
          ...(input.value !== undefined ? { value_bytes: Buffer.byteLength(input.value) } : {}),
        },
      });
      return toVariableView(updated);
    });
  } catch (err) {
    // Renaming onto a name the application already uses.
    if (isUniqueViolation(err)) throw conflict(`A variable named "${input.name}" already exists in this application`);
    throw err;
  }
}
