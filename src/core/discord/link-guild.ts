import { eq } from 'drizzle-orm';
import { applications, discordGuilds } from '../../db/schema.js';
import { lockKeyInTransaction, LOCK_NAMESPACES } from '../../db/advisory-lock.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import { authenticateToken } from '../developers/authenticate-token.js';
import type { Deps } from '../deps.js';
import { AppError, notFound } from '../errors.js';
import { API_KEY_PREFIX } from '../developers/issue-token.js';

export interface LinkGuildInput {
  guildId: string;
  appId: string;
  apiKey: string;
  sellerRoleId: string | null;
  logChannelId: string | null;
  member: { id: string; name: string };
}

/**
 * /setup: links (or re-links) a server to an application. The API key proves the seller may
 * administer the application; only the key's id is kept, never the key. The link lasts while that
 * developer keeps the admin role (unlink-guild.ts) and the key exists, or until the server is set
 * up again with another application.
 */
export async function linkGuild(deps: Deps, input: LinkGuildInput) {
  const apiKey = input.apiKey.trim();
  if (!apiKey.startsWith(API_KEY_PREFIX)) throw new AppError('UNAUTHORIZED', 'That is not a Keycord API key (they start with kc_live_).', 401);
  const developer = await authenticateToken(deps, apiKey);
  return deps.db.orm.transaction(async (tx) => {
    const [app] = await tx.select().from(applications).where(eq(applications.appId, input.appId.trim().toLowerCase()));
    if (!app) throw notFound('Application');
    const actor = { kind: 'discord' as const, developerId: developer.developerId, applicationId: app.id, discordUserId: input.member.id, name: input.member.name, guildId: input.guildId };
    // An admin check holds the application row, then the developer's membership, until the link
    // commits (access.ts): a removal or downgrade that comes meanwhile waits and then unlinks this
    // server with the others; one that came first is seen; a delete of the application is waited for.
    await requireApplication(tx, actor, app.id, 'admin');
    const values = {
      applicationId: app.id,
      developerId: developer.developerId,
      apiKeyId: developer.tokenId,
      sellerRoleId: input.sellerRoleId,
      logChannelId: input.logChannelId,
      linkedBy: input.member.id,
      updatedAt: deps.clock.now(),
    };
    // A server set up again with another application ends its link to the first: that one's audit
    // log says so, naming whose link it was (as any unlink does) and nothing of the new one. Two
    // /setups of a server take turns (a row lock holds nothing while the server has no row yet),
    // so the second sees the link the first made. The row is locked too: an unlink of it under
    // way (key deleted, member removed) is waited for, so its audit entry is not doubled here.
    await lockKeyInTransaction(tx, LOCK_NAMESPACES.discordGuild, input.guildId);
    const [previous] = await tx
      .select({ applicationId: discordGuilds.applicationId, developerId: discordGuilds.developerId })
      .from(discordGuilds)
      .where(eq(discordGuilds.guildId, input.guildId))
      .for('update');
    await tx
      .insert(discordGuilds)
      .values({ guildId: input.guildId, ...values })
      .onConflictDoUpdate({ target: discordGuilds.guildId, set: values });
    if (previous && previous.applicationId !== app.id) {
      await writeAudit(tx, actor, {
        applicationId: previous.applicationId,
        action: 'discord.unlinked',
        target: `guild:${input.guildId}`,
        details: { developer_id: previous.developerId, reason: 'relinked' },
      });
    }
    await writeAudit(tx, actor, {
      applicationId: app.id,
      action: 'discord.linked',
      target: `guild:${input.guildId}`,
      details: { seller_role_id: input.sellerRoleId, log_channel_id: input.logChannelId },
    });
    return { applicationName: app.name };
  });
}
