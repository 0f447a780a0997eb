import type { ClientApplication } from '../applications/application-cache.js';
import type { Deps } from '../deps.js';
import { BLACKLISTED_MESSAGE } from './blacklist-cache.js';

/** The answer of a client route to a blacklisted device or address (a 200, signed like the others). */
export interface BlacklistedAnswer {
  success: false;
  code: 'BLACKLISTED';
  message: string;
}

/**
 * The refusal when the HWID or the client address is blacklisted, logged as a validation with code
 * BLACKLISTED; null otherwise. Called first, so a refused request reads and changes nothing else.
 * Costs no database work once the application's list is held (BlacklistCache).
 */
export async function blacklistRefusal(deps: Deps, app: ClientApplication, client: { hwid?: string | null | undefined; ip?: string | null | undefined }): Promise<BlacklistedAnswer | null> {
  const list = deps.blacklists.peek(app) ?? (await deps.blacklists.get(app, deps.db));
  const hwid = client.hwid?.trim() || null;
  if (!list.blocks(hwid, client.ip)) return null;
  deps.usage.recordValidation(app.id, deps.clock.now(), false, undefined, { licenseId: null, code: 'BLACKLISTED', hwid: hwid?.slice(0, 256) ?? null, ip: client.ip ?? null, watched: false });
  return { success: false, code: 'BLACKLISTED', message: BLACKLISTED_MESSAGE };
}
