import { linkGuild } from '../core/discord/link-guild.js';
import { AppError } from '../core/errors.js';
import { setupModalTagValid, type CustomId } from './custom-ids.js';
import { canManageServer, ephemeral, modalValues, type HandlerResult, type InteractionContext } from './interaction.js';

/**
 * The /setup modal was submitted: check the member again and that the form is one the bot showed
 * this member in this server (its role and channel are then the ones Discord resolved here), then
 * link with the API key.
 */
export async function submitSetup(ctx: InteractionContext, id: Extract<CustomId, { kind: 'setup-modal' }>): Promise<HandlerResult> {
  if (!ctx.guildId) return ephemeral('Run /setup inside the server you want to link.');
  if (!canManageServer(ctx)) return ephemeral('❌ Only members with Manage Server can link this server.');
  if (!setupModalTagValid(ctx.bot.deps.box, { guildId: ctx.guildId, userId: ctx.user.id }, id)) {
    return ephemeral('❌ This setup form is out of date or was not opened by you in this server. Nothing was changed: run /setup again.');
  }
  const values = modalValues(ctx.interaction);
  const appId = values.get('app_id')?.trim() ?? '';
  const apiKey = values.get('api_key')?.trim() ?? '';
  if (!/^[0-9a-f-]{36}$/i.test(appId)) throw new AppError('VALIDATION_ERROR', 'The Application ID is the app_id UUID shown in the API (e.g. 1b4e28ba-2fa1-11d2-883f-0016d3cca427).', 400);
  const { applicationName } = await linkGuild(ctx.bot.deps, {
    guildId: ctx.guildId,
    appId,
    apiKey,
    sellerRoleId: id.sellerRoleId,
    logChannelId: id.logChannelId,
    member: ctx.user,
  });
  const extras = [id.sellerRoleId ? `Sellers: <@&${id.sellerRoleId}>` : 'Sellers: members with Manage Server', id.logChannelId ? `Log channel: <#${id.logChannelId}>` : 'No log channel'];
  return ephemeral(`✅ This server is now linked to **${applicationName}**.\n${extras.join('\n')}\nNext: /panel to post the customer panel.`);
}
