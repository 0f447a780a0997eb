import type { Actor } from '../actor.js';
import { lastUseIsDue } from '../last-used.js';
import { safeEqual, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { API_KEY_PREFIX, SESSION_PREFIX } from './issue-token.js';
import { tokenCacheOf, type KnownToken } from './token-cache.js';
import { toDateOrNull } from '../../db/timestamps.js';

const LOOKUP = `select t.id, t.token_hash, t.kind, t.expires_at, t.last_used_at, d.id as developer_id, d.username
from developer_tokens t join developers d on d.id = t.developer_id
where t.token_hash = $1`;

interface Row {
  id: number;
  token_hash: string;
  kind: 'session' | 'api_key';
  expires_at: Date | string | null;
  last_used_at: Date | string | null;
  developer_id: number;
  username: string;
}

/** The token behind `digest`, from the database; the stored digest is compared again in constant time. */
async function lookUpToken(deps: Deps, digest: string): Promise<KnownToken | null> {
  const [row] = await deps.db.query<Row>(LOOKUP, [digest]);
  if (!row || !safeEqual(row.token_hash, digest)) return null;
  return {
    tokenId: row.id,
    developerId: row.developer_id,
    developerName: row.username,
    kind: row.kind,
    expiresAt: toDateOrNull(row.expires_at),
    lastUsedAt: toDateOrNull(row.last_used_at),
  };
}

/**
 * Resolves a bearer token (session or API key) to a developer actor. The token is looked up by
 * its SHA-256 — remembered briefly per database client (token-cache.ts) — and its expiry is
 * checked against the clock on every use, cached or not.
 */
/** Bounds the database lookups of tokens not cached: `admit` may refuse one, `missed` counts an unknown token. */
export interface TokenLookupGate {
  admit(): void;
  missed(): void;
}

export async function authenticateToken(deps: Deps, token: string, ip?: string, gate?: TokenLookupGate): Promise<Extract<Actor, { kind: 'developer' }>> {
  if (!token.startsWith(SESSION_PREFIX) && !token.startsWith(API_KEY_PREFIX)) throw unauthorized();
  const digest = sha256Hex(token);
  const now = deps.clock.now();
  const cache = tokenCacheOf(deps.db);
  let known = cache.get(digest);
  if (!known) {
    gate?.admit();
    const found = await lookUpToken(deps, digest);
    if (!found) {
      gate?.missed();
      throw unauthorized();
    }
    cache.remember(digest, (known = found));
  }
  if (known.expiresAt && known.expiresAt <= now) throw unauthorized();
  // At most one write a minute per token: enough for "last used" in the key list.
  if (lastUseIsDue(known.lastUsedAt, now)) {
    known.lastUsedAt = now;
    await deps.db.query('update developer_tokens set last_used_at = $2::timestamptz where id = $1', [known.tokenId, now.toISOString()]);
  }
  return {
    kind: 'developer',
    developerId: known.developerId,
    name: known.developerName,
    via: known.kind,
    tokenId: known.tokenId,
    ...(ip ? { ip } : {}),
  };
}
