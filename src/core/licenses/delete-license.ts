import { eq } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { emitEvent, licenseEventData } from '../events/emit-event.js';
import { requireLicense } from './require-license.js';

export async function deleteLicense(deps: Deps, actor: SellerActor, licenseId: number) {
  await deps.db.orm.transaction(async (tx) => {
    const { license } = await requireLicense(tx, actor, licenseId, 'manage', { lock: true });
    await tx.delete(licenses).where(eq(licenses.id, licenseId));
    await emitEvent(tx, license.applicationId, 'license.deleted', licenseEventData(license));
    await writeAudit(tx, actor, { applicationId: license.applicationId, action: 'license.deleted', target: `license:${licenseId}`, details: { license_key: license.licenseKey } });
  });
  return { message: 'License deleted' };
}
