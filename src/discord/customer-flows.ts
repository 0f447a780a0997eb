import { InteractionResponseType, type APIInteraction } from 'discord-api-types/v10';
import { customerActorFor, notLinked, requireGuildId, requireGuildLink } from '../core/discord/guild-link.js';
import { readCustomerLicenses } from '../core/discord/read-customer-licenses.js';
import { redeemLicense, resetCustomerHwid } from '../core/customers/customer-licenses.js';
import { discordTime, ephemeral, modalValues, type HandlerResult, type InteractionContext } from './interaction.js';
import { customerLicensesEmbed, redeemModal, resetMenu } from './render.js';

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
  let roleNote = '';
  if (result.discordRoleId) {
    try {
      await ctx.bot.api.addRole(link.guildId, ctx.user.id, result.discordRoleId, `Redeemed a ${result.planName} license`);
      roleNote = ` You now have <@&${result.discordRoleId}>.`;
    } catch (err) {
      ctx.bot.deps.log.warn({ err: (err as Error).message, guild: link.guildId, role: result.discordRoleId }, 'could not grant the plan role');
      roleNote = ' (The role for this plan could not be granted; a server admin should check the bot’s permissions.)';
    }
  }
  return ephemeral(`✅ Redeemed your **${result.planName}** license.${roleNote}`);
}

/** The clicking user's licenses in the linked application, read together with the link. */
async function ownLicenses(ctx: InteractionContext) {
  const read = await readCustomerLicenses(ctx.bot.deps.db, requireGuildId(ctx.guildId), ctx.user.id, ctx.bot.deps.clock.now());
  if (!read) throw notLinked();
  return read.licenses;
}

export async function showMyLicenses(ctx: InteractionContext): Promise<HandlerResult> {
  const list = await ownLicenses(ctx);
  if (list.length === 0) return ephemeral('You have no licenses here yet. Use **Redeem key** to add one.');
  return ephemeral('', { embeds: [customerLicensesEmbed(list)] });
}

const RESET_PROMPT = 'Which license should be freed from its current computer?';

/** The reset menu; `page` set means a Previous/Next click, which turns the page in place. */
export async function showResetMenu(ctx: InteractionContext, page?: number): Promise<HandlerResult> {
  const list = await ownLicenses(ctx);
  if (list.length === 0) return ephemeral('You have no licenses here to reset.');
  if (page === undefined) return ephemeral(RESET_PROMPT, { components: resetMenu(list) });
  return { response: { type: InteractionResponseType.UpdateMessage, data: { content: RESET_PROMPT, components: resetMenu(list, page) } } };
}

export async function submitReset(ctx: InteractionContext): Promise<HandlerResult> {
  const link = await requireGuildLink(ctx.bot.deps.db.orm, ctx.guildId);
  const values = (ctx.interaction as APIInteraction & { data?: { values?: unknown[] } }).data?.values;
  // The menu offers plain decimal ids; `Number()` would also take `0x1` or `1e3`, and an id past
  // the integer column's range would fail in the query instead of being refused here.
  const choice = values?.[0];
  const licenseId = typeof choice === 'string' && /^[1-9][0-9]{0,9}$/.test(choice) ? Number(choice) : 0;
  if (licenseId <= 0 || licenseId > 2_147_483_647) return ephemeral('Please choose a license from the list.');
  const result = await resetCustomerHwid(ctx.bot.deps, customerActorFor(link, ctx.user), link.app, licenseId);
  if (result.ok) return ephemeral('✅ HWID reset. The license will bind to the next computer that uses it.');
  if (result.code === 'COOLDOWN') return ephemeral(`⏳ You can reset this license again ${discordTime(result.nextAllowedAt)}.`);
  return ephemeral('❌ That license is not one of yours.');
}
