import type { Db } from '../../db/client.js';

/** What a token resolved to, as read from the database. */
export interface KnownToken {
  tokenId: number;
  developerId: number;
  developerName: string;
  kind: 'session' | 'api_key';
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

interface Entry {
  token: KnownToken;
  /** Wall-clock time (ms) after which the database is asked again. */
  staleAt: number;
}

/**
 * Every seller request presents a bearer token; reading it from the database each time cost one
 * of a write's round trips. Tokens found valid are remembered for `ttlMs`: an API key revoked on
 * this instance is forgotten at once (`forgetToken`), one revoked through another instance stops
 * working here within `ttlMs`, and a token's own expiry is checked on every use by the caller.
 * Unknown tokens are never remembered, so a wrong token always costs its lookup, as before.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(digest: string): KnownToken | undefined {
    const hit = this.entries.get(digest);
    if (!hit) return undefined;
    if (hit.staleAt > Date.now()) return hit.token;
    this.entries.delete(digest);
    return undefined;
  }

  remember(digest: string, token: KnownToken): void {
    this.entries.delete(digest);
    // Map iterates in insertion order, so the first key is the oldest.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(digest, { token, staleAt: Date.now() + this.ttlMs });
  }

  forgetToken(tokenId: number): void {
    for (const [digest, entry] of this.entries) if (entry.token.tokenId === tokenId) this.entries.delete(digest);
  }
}

/**
 * How long another instance's revocation may go unnoticed here. Short: at hundreds of requests a
 * second per token, two seconds already saves all but one lookup in hundreds.
 */
const TOKEN_CACHE_TTL_MS = 2_000;

// One cache per database client: instances (and test harnesses) that share a process but not a
// database never see each other's tokens, and the cache goes when its client does.
const caches = new WeakMap<Db, TokenCache>();

export function tokenCacheOf(db: Db): TokenCache {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new TokenCache(TOKEN_CACHE_TTL_MS)));
  return cache;
}
