import { and, eq } from 'drizzle-orm';
import { licenses } from '../db/schema.js';
import { requireGuildLink, sellerActorFor } from '../core/discord/guild-link.js';
import { notFound } from '../core/errors.js';
import { normalizeKey } from '../core/licenses/key-format.js';
import { requireSeller, type InteractionContext } from './interaction.js';

/** The linked application and a seller actor for this member — or a refusal. */
export async function sellerSession(ctx: InteractionContext) {
  const link = await requireGuildLink(ctx.bot.deps.db.orm, ctx.guildId);
  requireSeller(ctx, link);
  return { link, actor: sellerActorFor(link, ctx.user) };
}

/** A license of the linked application by its key (sellers type keys, not ids). */
export async function licenseIdByKey(ctx: InteractionContext, applicationId: number, key: string): Promise<number> {
  const [row] = await ctx.bot.deps.db.orm
    .select({ id: licenses.id })
    .from(licenses)
    .where(and(eq(licenses.applicationId, applicationId), eq(licenses.licenseKey, normalizeKey(key))));
  if (!row) throw notFound('License');
  return row.id;
}
