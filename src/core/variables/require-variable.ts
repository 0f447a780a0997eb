import { eq } from 'drizzle-orm';
import { variables } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy, type Need } from '../applications/access.js';

/** A variable, visible only through an application the seller is part of (else 404). */
export async function requireVariable(db: Executor, actor: SellerActor, variableId: number, need: Need) {
  const [variable] = await db.select().from(variables).where(eq(variables.id, variableId)).limit(1);
  await requireOwnedBy(db, actor, variable?.applicationId, need, 'Variable');
  return variable!;
}
