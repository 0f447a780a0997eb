import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { licenseEventData } from '../events/emit-event.js';
import { withCurrentLicense } from './change-license.js';
import { writeLicenseDeletion } from './license-writes.js';

export async function deleteLicense(deps: Deps, actor: SellerActor, licenseId: number) {
  await withCurrentLicense(deps, actor, licenseId, async ({ license, version }) => {
    const written = await writeLicenseDeletion(deps.db, licenseId, version, {
      actor,
      audit: { applicationId: license.applicationId, action: 'license.deleted', target: `license:${licenseId}`, details: { license_key: license.licenseKey } },
      event: { type: 'license.deleted', data: licenseEventData(license) },
    });
    return written || undefined;
  });
  return { message: 'License deleted' };
}
