import { eq } from 'drizzle-orm';
import { licenses, plans } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy, type Need } from '../applications/access.js';

/** A license with its plan, reachable only through an application the seller is part of. */
export async function requireLicense(db: Executor, actor: SellerActor, licenseId: number, need: Need, opts: { lock?: boolean } = {}) {
  const query = db.select({ license: licenses, plan: plans }).from(licenses).innerJoin(plans, eq(plans.id, licenses.planId)).where(eq(licenses.id, licenseId)).limit(1);
  const [row] = opts.lock ? await query.for('update', { of: licenses }) : await query;
  const { app, role } = await requireOwnedBy(db, actor, row?.license.applicationId, need, 'License');
  return { ...row!, app, role };
}
