import { and, eq } from 'drizzle-orm';
import { developerTokens } from '../../db/schema.js';
import type { Actor } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { tokenCacheOf } from './token-cache.js';

/**
 * Signs a login session out: its token stops working at once here, and on other instances
 * within the token cache's few seconds. An API key is no session and is left alone (keys are
 * revoked from the key list); so is a session already gone.
 */
export async function endSession(deps: Deps, actor: Extract<Actor, { kind: 'developer' }>): Promise<boolean> {
  if (actor.via !== 'session') return false;
  const ended = await deps.db.orm.transaction(async (tx) => {
    const deleted = await tx
      .delete(developerTokens)
      .where(and(eq(developerTokens.id, actor.tokenId), eq(developerTokens.developerId, actor.developerId), eq(developerTokens.kind, 'session')))
      .returning({ id: developerTokens.id });
    if (deleted.length === 0) return false;
    await writeAudit(tx, actor, { action: 'developer.logged_out', target: `developer:${actor.developerId}` });
    return true;
  });
  tokenCacheOf(deps.db).forgetToken(actor.tokenId);
  return ended;
}
