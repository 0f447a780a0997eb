import { eq } from 'drizzle-orm';
import { licenses, type plans } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { toLicenseView } from './license-view.js';
import { requireLicense } from './require-license.js';

type LicenseRow = typeof licenses.$inferSelect;
type PlanRow = typeof plans.$inferSelect;

export interface LicenseChange {
  action: string;
  details?: Record<string, unknown>;
  /** The columns to set, decided from the locked current row; may throw to refuse. */
  apply(current: LicenseRow, now: Date): Partial<typeof licenses.$inferInsert>;
  /** Runs in the same transaction after the update (outbox events, etc.). */
  after?(tx: Tx, updated: LicenseRow, plan: PlanRow): Promise<void>;
}

/**
 * The shared shape of every seller change to one license: lock the row, check the role, update,
 * audit — one transaction — and answer the new license view.
 */
export async function changeLicense(deps: Deps, actor: SellerActor, licenseId: number, change: LicenseChange) {
  const now = deps.clock.now();
  return deps.db.orm.transaction(async (tx) => {
    const { license, plan } = await requireLicense(tx, actor, licenseId, 'manage', { lock: true });
    const [updated] = await tx
      .update(licenses)
      .set({ ...change.apply(license, now), updatedAt: now })
      .where(eq(licenses.id, licenseId))
      .returning();
    await writeAudit(tx, actor, {
      applicationId: license.applicationId,
      action: change.action,
      target: `license:${licenseId}`,
      details: { license_key: license.licenseKey, ...change.details },
    });
    await change.after?.(tx, updated!, plan);
    return toLicenseView(updated!, plan, now);
  });
}
