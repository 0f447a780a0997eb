import { ChannelType, InteractionResponseType } from 'discord-api-types/v10';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { setupModalTag } from '../src/discord/custom-ids.js';
import { canManageServer, ephemeral, idOption, commandOptions } from '../src/discord/interaction.js';
import { setupModal } from '../src/discord/render.js';

/**
 * /setup: the API key goes into a modal, never into a visible command option. The role and
 * channel Discord resolved in this server ride in the modal's custom id, tagged for this server
 * and member (custom-ids.ts), so the submitted form can carry nothing else.
 */
export const setup: Command = {
  data: sellerCommand('setup', 'Link this server to a Keycord application')
    .addRoleOption((o) => o.setName('seller_role').setDescription('Members with this role may use seller commands'))
    .addChannelOption((o) => o.setName('log_channel').setDescription('Where expiry notices are posted').addChannelTypes(ChannelType.GuildText)),
  async execute(ctx) {
    if (!ctx.guildId) return ephemeral('Run /setup inside the server you want to link.');
    if (!canManageServer(ctx)) return ephemeral('❌ Only members with Manage Server can link this server.');
    const { options } = commandOptions(ctx.interaction);
    const values = { sellerRoleId: idOption(options, 'seller_role') ?? null, logChannelId: idOption(options, 'log_channel') ?? null };
    const tag = setupModalTag(ctx.bot.deps.box, { guildId: ctx.guildId, userId: ctx.user.id }, values);
    return { response: { type: InteractionResponseType.Modal, data: setupModal({ kind: 'setup-modal', ...values, tag }) } };
  },
};
