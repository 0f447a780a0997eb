import { count, eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { MAX_VARIABLES_PER_APP } from './variable-rules.js';
import { toVariableView } from './variable-view.js';

export interface VariableFields {
  name: string;
  value: string;
  public: boolean;
}

export async function createVariable(deps: Deps, actor: SellerActor, applicationId: number, input: VariableFields) {
  return deps.db.orm.transaction(async (tx) => {
    // Under the application row's lock: creates count one after another.
    await requireApplication(tx, actor, applicationId, 'manage', 'no key update');
    const [used] = await tx.select({ n: count() }).from(variables).where(eq(variables.applicationId, applicationId));
    if ((used?.n ?? 0) >= MAX_VARIABLES_PER_APP) {
      throw conflict(`An application may have at most ${MAX_VARIABLES_PER_APP} variables`, 'LIMIT_REACHED');
    }
    const [variable] = await tx.insert(variables).values({ applicationId, name: input.name, value: input.value, public: input.public }).onConflictDoNothing().returning();
    if (!variable) throw conflict(`A variable named "${input.name}" already exists in this application`);
    // The value may be a secret (private variables): the audit keeps its size, not its content.
    await writeAudit(tx, actor, {
      applicationId,
      action: 'variable.created',
      target: `variable:${variable.id}`,
      details: { name: input.name, public: input.public, value_bytes: Buffer.byteLength(input.value) },
    });
    return toVariableView(variable);
  });
}
