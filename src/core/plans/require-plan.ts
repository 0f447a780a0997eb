import { eq } from 'drizzle-orm';
import { plans } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy, type Need } from '../applications/access.js';
import { notFound } from '../errors.js';

/**
 * A plan, visible only through an application the seller is part of (else 404).
 *
 * With `lock` (inside a write transaction): the application row is locked first (no key update:
 * the lock every writer of keys holds, and the order in which a delete of the application takes
 * its row and then, by cascade, its plans), then the plan is read again under FOR KEY SHARE. The
 * plan returned stays until the transaction ends, so keys inserted under it never meet a
 * foreign-key violation, and a plan deleted before the lock was had is a 404, as if the request
 * had come a moment later. Plan rows are only ever locked under their application's lock, so two
 * writers never both hold a plan and wait to strengthen their hold on it.
 */
export async function requirePlan(db: Executor, actor: SellerActor, planId: number, need: Need, lock = false) {
  const [plan] = await db.select().from(plans).where(eq(plans.id, planId)).limit(1);
  const { app, role } = await requireOwnedBy(db, actor, plan?.applicationId, need, 'Plan', lock ? 'no key update' : undefined);
  if (!lock) return { plan: plan!, app, role };
  const [held] = await db.select().from(plans).where(eq(plans.id, planId)).for('key share');
  if (!held) throw notFound('Plan');
  return { plan: held, app, role };
}
