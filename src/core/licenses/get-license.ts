import type { SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { toLicenseView } from './license-view.js';
import { requireLicense } from './require-license.js';

export async function getLicense(deps: Deps, actor: SellerActor, licenseId: number) {
  const { license, plan } = await requireLicense(deps.db, actor, licenseId, 'read');
  return toLicenseView(license, plan, deps.clock.now());
}
