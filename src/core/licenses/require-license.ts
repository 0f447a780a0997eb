import { eq } from 'drizzle-orm';
import { licenses, plans } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, type Need } from '../applications/access.js';
import { notFound } from '../errors.js';

/** A license with its plan, reachable only through an application the seller is part of. */
export async function requireLicense(db: Executor, actor: SellerActor, licenseId: number, need: Need, opts: { lock?: boolean } = {}) {
  const query = db.select({ license: licenses, plan: plans }).from(licenses).innerJoin(plans, eq(plans.id, licenses.planId)).where(eq(licenses.id, licenseId)).limit(1);
  const [row] = opts.lock ? await query.for('update', { of: licenses }) : await query;
  if (!row) throw notFound('License');
  try {
    const { app, role } = await requireApplication(db, actor, row.license.applicationId, need);
    return { ...row, app, role };
  } catch (err) {
    if ((err as { status?: number }).status === 404) throw notFound('License');
    throw err;
  }
}
