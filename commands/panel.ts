import { SlashCommandBuilder } from '@discordjs/builders';
import { ChannelType, InteractionContextType } from 'discord-api-types/v10';
import { writeAudit } from '../src/core/audit.js';
import type { Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, idOption } from '../src/discord/interaction.js';
import { panelMessage } from '../src/discord/render.js';
import { sellerSession } from '../src/discord/seller.js';

export const panel: Command = {
  data: new SlashCommandBuilder()
    .setName('panel')
    .setDescription('Post the customer panel (redeem, my licenses, reset HWID)')
    .setContexts(InteractionContextType.Guild)
    .addChannelOption((o) => o.setName('channel').setDescription('Where to post it (default: here)').addChannelTypes(ChannelType.GuildText)),
  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const channelId = idOption(commandOptions(ctx.interaction).options, 'channel') ?? ctx.interaction.channel?.id;
    if (!channelId) return ephemeral('❌ Choose a channel.');
    await ctx.bot.api.postMessage(channelId, panelMessage(link.app.name));
    await writeAudit(ctx.bot.deps.db.orm, actor, { applicationId: link.app.id, action: 'discord.panel_posted', target: `channel:${channelId}` });
    return ephemeral(`✅ Panel posted in <#${channelId}>.`);
  },
};
