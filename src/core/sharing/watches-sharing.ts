import type { ClientApplication } from '../applications/application-cache.js';
import type { LicenseState } from '../licenses/license-lookup.js';

/**
 * Whether key-sharing detection watches a license's validations: it is not banned, and its plan's
 * `sharing` (which replaces the application's as a whole), else the application's, sets a
 * threshold. Decided as each validation is recorded, from what its lookup read and the cached
 * application, so a usage flush hands the detector its lines without asking the database which
 * licenses are watched. The detector reads the license and the settings again before it flags.
 */
export function watchesSharing(app: ClientApplication, license: Pick<LicenseState, 'status' | 'planWatchesSharing'>): boolean {
  if (license.status === 'banned') return false;
  if (license.planWatchesSharing !== null) return license.planWatchesSharing;
  const s = app.settings.sharing;
  return s.max_ips_per_24h !== null || s.max_hwid_mismatches_per_1h !== null;
}
