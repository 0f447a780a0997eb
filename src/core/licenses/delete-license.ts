import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { licenseEventData } from '../events/emit-event.js';
import { withCurrentLicense } from './change-license.js';
import { writeLicenseDeletion, type LicenseWrite } from './license-writes.js';
import type { LicenseRow } from './require-license.js';

export async function deleteLicense(deps: Deps, actor: SellerActor, licenseId: number) {
  await withCurrentLicense(deps, actor, licenseId, async ({ license, version }) => {
    const written = await writeLicenseDeletion(deps.db, licenseId, version, licenseDeletionWrite(actor, license));
    return written || undefined;
  });
  return { message: 'License deleted' };
}

/** The audit entry and the event a deleted license leaves (the bulk delete writes the same). */
export function licenseDeletionWrite(actor: SellerActor, license: LicenseRow): LicenseWrite {
  return {
    actor,
    audit: { applicationId: license.applicationId, action: 'license.deleted', target: `license:${license.id}`, details: { license_key: license.licenseKey } },
    event: { type: 'license.deleted', data: licenseEventData(license) },
  };
}
