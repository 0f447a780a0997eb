import { eq } from 'drizzle-orm';
import { applications, discordGuilds } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { Actor } from '../actor.js';
import { mergeSettings } from '../applications/application-settings.js';
import { AppError } from '../errors.js';
import { toDate } from '../../db/timestamps.js';

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

/** The server an interaction comes from; commands that act on a linked application need one. */
export function requireGuildId(guildId: string | undefined): string {
  if (!guildId) throw new AppError('GUILD_ONLY', 'This works only inside a server.', 400);
  return guildId;
}

export const notLinked = () => new AppError('NOT_LINKED', 'This server is not linked to a Keycord application yet. An admin can run /setup.', 400);

export async function requireGuildLink(db: Executor, guildId: string | undefined): Promise<GuildLink> {
  const link = await findGuildLink(db, requireGuildId(guildId));
  if (!link) throw notLinked();
  return link;
}

/**
 * The link's columns for the raw reads that fetch a command's data together with its link, so a
 * command costs one query and the link is never served from a cache an unlink has outdated.
 * `g` is discord_guilds, `a` its application.
 */
export const GUILD_LINK_COLUMNS = `g.guild_id, g.application_id, g.developer_id, g.api_key_id, g.seller_role_id, g.log_channel_id, g.linked_by,
  g.created_at, g.updated_at, a.app_id, a.name as app_name, a.settings as app_settings`;

export interface GuildLinkRow {
  guild_id: string;
  application_id: number;
  developer_id: number;
  api_key_id: number;
  seller_role_id: string | null;
  log_channel_id: string | null;
  linked_by: string;
  created_at: Date | string;
  updated_at: Date | string;
  app_id: string;
  app_name: string;
  app_settings: unknown;
}

/** postgres.js hands timestamps over as Dates; the embedded database may hand over text. */

export function guildLinkFromRow(r: GuildLinkRow): GuildLink {
  return {
    guildId: r.guild_id,
    applicationId: r.application_id,
    developerId: r.developer_id,
    apiKeyId: r.api_key_id,
    sellerRoleId: r.seller_role_id,
    logChannelId: r.log_channel_id,
    linkedBy: r.linked_by,
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
    app: { id: r.application_id, appId: r.app_id, name: r.app_name, settings: mergeSettings(r.app_settings, undefined) },
  };
}

/** A Discord member acting with the rights of the developer who linked the server, inside the linked application only. */
export function sellerActorFor(link: GuildLink, member: { id: string; name: string }): Extract<Actor, { kind: 'discord' }> {
  return { kind: 'discord', developerId: link.developerId, applicationId: link.applicationId, discordUserId: member.id, name: member.name, guildId: link.guildId };
}

/** A customer: audited as the Discord user, with no developer rights at all. */
export function customerActorFor(link: GuildLink, member: { id: string; name: string }): Extract<Actor, { kind: 'discord' }> {
  return { kind: 'discord', developerId: 0, applicationId: link.applicationId, discordUserId: member.id, name: member.name, guildId: link.guildId };
}
