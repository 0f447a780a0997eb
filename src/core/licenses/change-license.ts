import { eq } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { emitEvent, licenseEventData, type EventType } from '../events/emit-event.js';
import { toLicenseView } from './license-view.js';
import { requireLicense } from './require-license.js';

type LicenseRow = typeof licenses.$inferSelect;

export interface LicenseChange {
  action: string;
  details?: Record<string, unknown>;
  /** The columns to set, decided from the locked current row; may throw to refuse. */
  apply(current: LicenseRow, now: Date): Partial<typeof licenses.$inferInsert>;
  /** The outbox event this change emits, in the same transaction. */
  event?: EventType;
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
    if (change.event) await emitEvent(tx, license.applicationId, change.event, licenseEventData(updated!));
    return toLicenseView(updated!, plan, now);
  });
}
