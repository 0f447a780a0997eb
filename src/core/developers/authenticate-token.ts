import { and, eq, gt, isNull, or } from 'drizzle-orm';
import { developerTokens, developers } from '../../db/schema.js';
import type { Actor } from '../actor.js';
import { safeEqual, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { API_KEY_PREFIX, SESSION_PREFIX } from './issue-token.js';

/**
 * Resolves a bearer token (session or API key) to a developer actor. The token is looked up by
 * its SHA-256, and the stored digest is compared again in constant time.
 */
export async function authenticateToken(deps: Deps, token: string, ip?: string): Promise<Extract<Actor, { kind: 'developer' }>> {
  if (!token.startsWith(SESSION_PREFIX) && !token.startsWith(API_KEY_PREFIX)) throw unauthorized();
  const digest = sha256Hex(token);
  const now = deps.clock.now();
  const [row] = await deps.db.orm
    .select({ token: developerTokens, developer: developers })
    .from(developerTokens)
    .innerJoin(developers, eq(developers.id, developerTokens.developerId))
    .where(and(eq(developerTokens.tokenHash, digest), or(isNull(developerTokens.expiresAt), gt(developerTokens.expiresAt, now))))
    .limit(1);
  if (!row || !safeEqual(row.token.tokenHash, digest)) throw unauthorized();
  // At most one write a minute per token: enough for "last used" in the key list.
  if (!row.token.lastUsedAt || now.getTime() - row.token.lastUsedAt.getTime() > 60_000) {
    await deps.db.orm.update(developerTokens).set({ lastUsedAt: now }).where(eq(developerTokens.id, row.token.id));
  }
  return {
    kind: 'developer',
    developerId: row.developer.id,
    name: row.developer.username,
    via: row.token.kind,
    tokenId: row.token.id,
    ...(ip ? { ip } : {}),
  };
}
