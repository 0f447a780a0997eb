import { eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy, type Need } from '../applications/access.js';

/** A plan, visible only through an application the seller is part of (else 404). */
export async function requirePlan(db: Executor, actor: SellerActor, planId: number, need: Need) {
  const [plan] = await db.select().from(plans).where(eq(plans.id, planId)).limit(1);
  const { app, role } = await requireOwnedBy(db, actor, plan?.applicationId, need, 'Plan');
  return { plan: plan!, app, role };
}
