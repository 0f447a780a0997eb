import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { idempotencyKeys } from '../db/schema.js';
import type { Deps } from './deps.js';
import { conflict } from './errors.js';

const KEEP_MS = 24 * 3600_000;
/** A first request that never finished (its process died) stops blocking retries after this. */
const ABANDONED_MS = 60_000;

/** What a create request with an Idempotency-Key goes on to do: run (its key is now claimed), or replay the first answer. */
export type IdempotencyClaim = { run: true } | { run: false; statusCode: number; body: string };

const keyOf = (developerId: number, key: string) => and(eq(idempotencyKeys.developerId, developerId), eq(idempotencyKeys.key, key));

/**
 * Claims `key` for this developer's request, or finds the answer its first use stored. Keys older
 * than 24 h, and claims abandoned for a minute, are dropped first. The same key with another
 * request (`requestHash`), or while the first still runs, is a 409.
 */
export async function claimIdempotencyKey(deps: Deps, claim: { developerId: number; key: string; route: string; requestHash: string }): Promise<IdempotencyClaim> {
  const now = deps.clock.now().getTime();
  const db = deps.db.orm;
  const mine = keyOf(claim.developerId, claim.key);
  await db
    .delete(idempotencyKeys)
    .where(and(mine, or(lt(idempotencyKeys.createdAt, new Date(now - KEEP_MS)), and(isNull(idempotencyKeys.statusCode), lt(idempotencyKeys.createdAt, new Date(now - ABANDONED_MS))))));
  const claimed = await db
    .insert(idempotencyKeys)
    .values({ developerId: claim.developerId, key: claim.key, route: claim.route, requestHash: claim.requestHash, createdAt: new Date(now) })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (claimed.length > 0) return { run: true };
  const [stored] = await db.select().from(idempotencyKeys).where(mine);
  if (!stored) throw conflict('The request with this Idempotency-Key changed meanwhile; retry');
  if (stored.requestHash !== claim.requestHash) throw conflict('This Idempotency-Key was used with a different request', 'IDEMPOTENCY_MISMATCH');
  if (stored.statusCode === null) throw conflict('A request with this Idempotency-Key is still in progress', 'IDEMPOTENCY_IN_PROGRESS');
  return { run: false, statusCode: stored.statusCode, body: openReplay(deps, stored.responseBody) };
}

/** Stores a claimed key's successful answer for its repeats (sealed: see openReplay). */
export async function storeIdempotentAnswer(deps: Deps, developerId: number, key: string, statusCode: number, body: string): Promise<void> {
  await deps.db.orm
    .update(idempotencyKeys)
    .set({ statusCode, responseBody: deps.box.seal(body) })
    .where(keyOf(developerId, key));
}

/** Forgets a claimed key whose request failed, so it can be retried with the same key. */
export async function forgetIdempotencyKey(deps: Deps, developerId: number, key: string): Promise<void> {
  await deps.db.orm.delete(idempotencyKeys).where(keyOf(developerId, key));
}

/** Forgets keys past their 24 h (the maintenance job: claims drop their own key's old row anyway). */
export async function forgetExpiredIdempotencyKeys(deps: Deps): Promise<void> {
  await deps.db.orm.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, sql`${new Date(deps.clock.now().getTime() - KEEP_MS).toISOString()}::timestamptz`));
}

/**
 * Replays are stored sealed (SecretBox, AES-256-GCM under KEYCORD_SECRET): create answers carry
 * secrets shown once — an application's secret, a new API key, a webhook secret — and the table
 * keeps them for 24 h. Rows written before sealing (plain JSON) are still replayed until they age out.
 */
function openReplay(deps: Deps, stored: string | null): string {
  if (stored === null) return 'null';
  return stored.startsWith('v1.') ? deps.box.open(stored).toString('utf8') : stored;
}
