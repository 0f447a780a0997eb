import { notLinked, requireGuildId, requireGuildLink, sellerActorFor } from '../core/discord/guild-link.js';
import { readGuildLicense } from '../core/discord/read-guild-license.js';
import { readGuildStatistics } from '../core/discord/read-guild-statistics.js';
import { normalizeKey } from '../core/licenses/key-format.js';
import { requireSeller, type InteractionContext } from './interaction.js';

/** The linked application and a seller actor for this member — or a refusal. */
export async function sellerSession(ctx: InteractionContext) {
  const link = await requireGuildLink(ctx.bot.deps.db.orm, ctx.guildId);
  requireSeller(ctx, link);
  return { link, actor: sellerActorFor(link, ctx.user) };
}

/**
 * The session and the license a seller names by key (sellers type keys, not ids), read in one
 * query; `license` is null when the linked application has no such key.
 */
export async function sellerLicenseSession(ctx: InteractionContext, key: string | undefined) {
  const read = await readGuildLicense(ctx.bot.deps.db, requireGuildId(ctx.guildId), key ? normalizeKey(key) : null, ctx.bot.deps.clock.now());
  if (!read) throw notLinked();
  requireSeller(ctx, read.link);
  return { ...read, actor: sellerActorFor(read.link, ctx.user) };
}

/** The session and the linked application's statistics, read in one query. */
export async function sellerStatisticsSession(ctx: InteractionContext) {
  const read = await readGuildStatistics(ctx.bot.deps.db, requireGuildId(ctx.guildId), ctx.bot.deps.clock.now());
  if (!read) throw notLinked();
  requireSeller(ctx, read.link);
  return read;
}
