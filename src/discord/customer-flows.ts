import { InteractionResponseType, type APIInteraction } from 'discord-api-types/v10';
import { customerActorFor, notLinked, requireGuildId, requireGuildLink } from '../core/discord/guild-link.js';
import { readCustomerLicenses } from '../core/discord/read-customer-licenses.js';
import { redeemLicense, resetCustomerHwid } from '../core/customers/customer-licenses.js';
import { discordTime, ephemeral, modalValues, type HandlerResult, type InteractionContext } from './interaction.js';
import { customerLicensesMessage, LICENSES_PAGE_SIZE, redeemModal, RESET_PAGE_SIZE, resetMenu } from './render.js';
import { rowIdOf } from './row-id.js';

/**
 * The customer side — the panel's buttons and the equivalent slash commands share these.
 * Every answer is ephemeral, and only ever about the clicking user's own licenses.
 */

export function showRedeemModal(): HandlerResult {
  return { response: { type: InteractionResponseType.Modal, data: redeemModal() } };
}

export async function submitRedeem(ctx: InteractionContext): Promise<HandlerResult> {
  const link = await requireGuildLink(ctx.bot.deps.db.orm, ctx.guildId);
  const key = modalValues(ctx.interaction).get('license_key')?.trim();
  if (!key) return ephemeral('Please enter a license key.');
  const result = await redeemLicense(ctx.bot.deps, customerActorFor(link, ctx.user), link.app.id, key);
  if (!result.ok) {
    const why = {
      NOT_FOUND: 'That key does not exist for this application. Check for typos.',
      ALREADY_YOURS: 'That key is already linked to your account.',
      CLAIMED: 'That key has already been redeemed by another account.',
      UNAVAILABLE: 'That key can no longer be redeemed (banned or expired).',
    }[result.code];
    return ephemeral(`❌ ${why}`);
  }
  const redeemed = `✅ Redeemed your **${result.planName}** license.`;
  const roleId = result.discordRoleId;
  if (!roleId) return ephemeral(redeemed);
  // The seller role runs seller commands with the linking admin's rights: a plan never grants it,
  // whichever came first, the plan's role or the server's link (plans refuse it when they come last).
  if (roleId === link.sellerRoleId) {
    ctx.bot.deps.log.warn({ guild: link.guildId, role: roleId }, "a plan's role is this server's seller role; not granted");
    return ephemeral(`${redeemed} (This plan's role is not granted here; a server admin should check the plan's role.)`);
  }
  // The key is claimed: say so at once. The role grant is a bot-token call that may wait out a
  // rate limit past Discord's 3 s for a first answer, so it runs after, and the answer is edited.
  return {
    ...ephemeral(`${redeemed} Granting you <@&${roleId}>…`),
    after: async () => {
      const roleNote = await grantPlanRole(ctx, link.guildId, roleId, result.planName);
      await ctx.bot.api.editOriginal(ctx.interaction.token, { content: `${redeemed}${roleNote}`, allowed_mentions: { parse: [] } });
    },
  };
}

/** Grants a redeemed plan's role; answers the sentence saying whether it was granted. */
async function grantPlanRole(ctx: InteractionContext, guildId: string, roleId: string, planName: string): Promise<string> {
  try {
    await ctx.bot.api.addRole(guildId, ctx.user.id, roleId, `Redeemed a ${planName} license`);
    return ` You now have <@&${roleId}>.`;
  } catch (err) {
    ctx.bot.deps.log.warn({ err: (err as Error).message, guild: guildId, role: roleId }, 'could not grant the plan role');
    return ' (The role for this plan could not be granted; a server admin should check the bot’s permissions.)';
  }
}

/**
 * One page of the clicking user's licenses, `pageSize` a page (0-based; past the end is the last
 * page), and how many they have, read with the link in one query.
 */
async function ownLicensePage(ctx: InteractionContext, pageSize: number, requested: number) {
  const window = { offset: requested * pageSize, limit: pageSize };
  const read = await readCustomerLicenses(ctx.bot.deps.db, requireGuildId(ctx.guildId), ctx.user.id, ctx.bot.deps.clock.now(), window);
  if (!read) throw notLinked();
  // The page the read fell back to when asked past the end: the one it read.
  return { total: read.total, page: read.offset / pageSize, items: read.licenses };
}

const NO_LICENSES = 'You have no licenses here yet. Use **Redeem key** to add one.';

/**
 * My licenses, a page at a time. `page` set means a Previous/Next click, which turns the page in
 * place; the buttons carry only the page, so whoever clicks them sees their own licenses.
 */
export async function showMyLicenses(ctx: InteractionContext, page?: number): Promise<HandlerResult> {
  const list = await ownLicensePage(ctx, LICENSES_PAGE_SIZE, page ?? 0);
  if (page === undefined) return list.total === 0 ? ephemeral(NO_LICENSES) : ephemeral('', customerLicensesMessage(list, list.page));
  const data = list.total === 0 ? { content: NO_LICENSES, embeds: [], components: [] } : { content: '', ...customerLicensesMessage(list, list.page) };
  return { response: { type: InteractionResponseType.UpdateMessage, data } };
}

const NO_LICENSES_TO_RESET = 'You have no licenses here to reset.';

/**
 * The reset menu, a page (RESET_PAGE_SIZE licenses) at a time. `page` set means a Previous/Next
 * click, which turns the page in place; the buttons carry only the page, so whoever clicks them
 * sees their own licenses, and the reset itself checks ownership in the core.
 */
export async function showResetMenu(ctx: InteractionContext, page?: number): Promise<HandlerResult> {
  const list = await ownLicensePage(ctx, RESET_PAGE_SIZE, page ?? 0);
  const menu = list.total === 0 ? { content: NO_LICENSES_TO_RESET, components: [] } : resetMenu(list, list.page);
  if (page === undefined) return ephemeral(menu.content, { components: menu.components });
  return { response: { type: InteractionResponseType.UpdateMessage, data: menu } };
}

export async function submitReset(ctx: InteractionContext): Promise<HandlerResult> {
  const link = await requireGuildLink(ctx.bot.deps.db.orm, ctx.guildId);
  const values = (ctx.interaction as APIInteraction & { data?: { values?: unknown[] } }).data?.values;
  const choice = values?.[0];
  const licenseId = rowIdOf(typeof choice === 'string' ? choice : undefined);
  if (licenseId === null) return ephemeral('Please choose a license from the list.');
  const result = await resetCustomerHwid(ctx.bot.deps, customerActorFor(link, ctx.user), link.app, licenseId);
  if (result.ok) return ephemeral('✅ HWID reset. The license will bind to the next computer that uses it.');
  if (result.code === 'COOLDOWN') return ephemeral(`⏳ You can reset this license again ${discordTime(result.nextAllowedAt)}.`);
  return ephemeral('❌ That license is not one of yours.');
}
