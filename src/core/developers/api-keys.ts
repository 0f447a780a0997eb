import { and, asc, count, eq } from 'drizzle-orm';
import { developerTokens, developers, discordGuilds } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { writeAudit, writeAudits } from '../audit.js';
import type { Deps } from '../deps.js';
import { conflict, notFound } from '../errors.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { issueToken } from './issue-token.js';
import { tokenCacheOf } from './token-cache.js';

const MAX_API_KEYS = 100;

const toApiKeyView = (t: typeof developerTokens.$inferSelect) => ({
  id: t.id,
  name: t.name,
  hint: t.hint,
  created_at: t.createdAt.toISOString(),
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
});

export async function createApiKey(deps: Deps, actor: SellerActor, input: { name: string }) {
  return deps.db.orm.transaction(async (tx) => {
    // Serialises this developer's key creations, so concurrent requests cannot pass the limit together.
    await tx.select({ id: developers.id }).from(developers).where(eq(developers.id, actor.developerId)).for('no key update');
    const existing = await tx
      .select({ id: developerTokens.id })
      .from(developerTokens)
      .where(and(eq(developerTokens.developerId, actor.developerId), eq(developerTokens.kind, 'api_key')));
    if (existing.length >= MAX_API_KEYS) throw conflict(`You may have at most ${MAX_API_KEYS} API keys`, 'LIMIT_REACHED');
    const { token, row } = await issueToken(tx, actor.developerId, 'api_key', { name: input.name });
    await writeAudit(tx, actor, { action: 'api_key.created', target: `api_key:${row.id}`, details: { name: input.name } });
    return { ...toApiKeyView(row), key: token };
  });
}

export async function listApiKeys(deps: Deps, actor: SellerActor, page: PageRequest) {
  const mine = and(eq(developerTokens.developerId, actor.developerId), eq(developerTokens.kind, 'api_key'));
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(developerTokens).where(mine),
    deps.db.orm.select().from(developerTokens).where(mine).orderBy(asc(developerTokens.id)).limit(limit).offset(offset),
    toApiKeyView,
  );
}

/**
 * Revokes an API key. The Discord servers linked with it (/setup) go with it (the foreign key
 * cascades); they are unlinked here first, so each application's log says so, as it does when
 * the linking developer loses the admin role. Only the caller's own links: a key that is not
 * theirs is a 404 and the transaction, unlinks included, rolls back.
 */
export async function deleteApiKey(deps: Deps, actor: SellerActor, id: number) {
  await deps.db.orm.transaction(async (tx) => {
    const unlinked = await tx
      .delete(discordGuilds)
      .where(and(eq(discordGuilds.apiKeyId, id), eq(discordGuilds.developerId, actor.developerId)))
      .returning({ guildId: discordGuilds.guildId, applicationId: discordGuilds.applicationId });
    const deleted = await tx
      .delete(developerTokens)
      .where(and(eq(developerTokens.id, id), eq(developerTokens.developerId, actor.developerId), eq(developerTokens.kind, 'api_key')))
      .returning({ id: developerTokens.id });
    if (deleted.length === 0) throw notFound('API key');
    await writeAudit(tx, actor, { action: 'api_key.deleted', target: `api_key:${id}` });
    await writeAudits(
      tx,
      actor,
      unlinked.map((g) => ({ applicationId: g.applicationId, action: 'discord.unlinked', target: `guild:${g.guildId}`, details: { developer_id: actor.developerId, reason: 'api_key.deleted' } })),
    );
  });
  // Revoked means revoked now on this instance; other instances notice within the cache's TTL.
  tokenCacheOf(deps.db).forgetToken(id);
}
