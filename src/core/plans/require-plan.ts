import { eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, type Need } from '../applications/access.js';
import { notFound } from '../errors.js';

/** A plan, visible only through an application the seller is part of (else 404). */
export async function requirePlan(db: Executor, actor: SellerActor, planId: number, need: Need) {
  const [plan] = await db.select().from(plans).where(eq(plans.id, planId)).limit(1);
  if (!plan) throw notFound('Plan');
  try {
    const { app, role } = await requireApplication(db, actor, plan.applicationId, need);
    return { plan, app, role };
  } catch (err) {
    // Hide existence: a plan of someone else's application is just "not found".
    if ((err as { status?: number }).status === 404) throw notFound('Plan');
    throw err;
  }
}
