import type { ClientApplication } from '../applications/application-cache.js';
import { blacklistRefusal } from '../blacklists/blacklist-refusal.js';
import type { Deps } from '../deps.js';
import { normalizeKey } from './key-format.js';
import { effectiveStatus } from './license-view.js';

/** Read-only: tells a client app how long a key has left, without activating it. */
export async function checkExpiration(deps: Deps, app: ClientApplication, input: { license_key: string; ip?: string | null }) {
  const refused = await blacklistRefusal(deps, app, { ip: input.ip });
  if (refused) return refused;
  const license = await deps.lookup.find(app.id, normalizeKey(input.license_key));
  if (!license) return { success: false as const, code: 'NOT_FOUND' as const, message: 'License not found' };
  const now = deps.clock.now();
  const status = effectiveStatus(license.status, license.expiresAt, now);
  // API.md: null for lifetime and inactive keys. A reset key is inactive with its end kept (a reset
  // never moves it): `expires_at` still says when it ends.
  const remaining = license.expiresAt && status !== 'inactive' ? Math.max(0, Math.floor((license.expiresAt.getTime() - now.getTime()) / 1000)) : null;
  return {
    success: true as const,
    status,
    activated_at: license.activatedAt?.toISOString() ?? null,
    expires_at: license.expiresAt?.toISOString() ?? null,
    expired: status === 'expired',
    remaining_seconds: remaining,
  };
}
