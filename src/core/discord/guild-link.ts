import { eq } from 'drizzle-orm';
import { applications, discordGuilds } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { Actor } from '../actor.js';
import { mergeSettings } from '../applications/application-settings.js';
import { AppError } from '../errors.js';

export type GuildLink = typeof discordGuilds.$inferSelect & {
  app: { id: number; appId: string; name: string; settings: ReturnType<typeof mergeSettings> };
};

export async function findGuildLink(db: Executor, guildId: string): Promise<GuildLink | null> {
  const [row] = await db
    .select({ link: discordGuilds, app: applications })
    .from(discordGuilds)
    .innerJoin(applications, eq(applications.id, discordGuilds.applicationId))
    .where(eq(discordGuilds.guildId, guildId));
  if (!row) return null;
  return { ...row.link, app: { id: row.app.id, appId: row.app.appId, name: row.app.name, settings: mergeSettings(row.app.settings, undefined) } };
}

export async function requireGuildLink(db: Executor, guildId: string | undefined): Promise<GuildLink> {
  if (!guildId) throw new AppError('GUILD_ONLY', 'This works only inside a server.', 400);
  const link = await findGuildLink(db, guildId);
  if (!link) throw new AppError('NOT_LINKED', 'This server is not linked to a Keycord application yet. An admin can run /setup.', 400);
  return link;
}

/** A Discord member acting with the rights of the developer who linked the server, inside the linked application only. */
export function sellerActorFor(link: GuildLink, member: { id: string; name: string }): Extract<Actor, { kind: 'discord' }> {
  return { kind: 'discord', developerId: link.developerId, applicationId: link.applicationId, discordUserId: member.id, name: member.name, guildId: link.guildId };
}

/** A customer: audited as the Discord user, with no developer rights at all. */
export function customerActorFor(link: GuildLink, member: { id: string; name: string }): Extract<Actor, { kind: 'discord' }> {
  return { kind: 'discord', developerId: 0, applicationId: link.applicationId, discordUserId: member.id, name: member.name, guildId: link.guildId };
}
