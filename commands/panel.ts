import { ChannelType } from 'discord-api-types/v10';
import { writeAudit } from '../src/core/audit.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, deferEphemeral, ephemeral, idOption } from '../src/discord/interaction.js';
import { panelMessage } from '../src/discord/render.js';
import { sellerSession } from '../src/discord/seller.js';

export const panel: Command = {
  data: sellerCommand('panel', 'Post the customer panel (redeem, my licenses, reset HWID)').addChannelOption((o) =>
    o.setName('channel').setDescription('Where to post it (default: here)').addChannelTypes(ChannelType.GuildText),
  ),
  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    // Discord sends the channel object with newer interactions and only `channel_id` with some; either will do.
    const channelId = idOption(commandOptions(ctx.interaction).options, 'channel') ?? ctx.interaction.channel?.id ?? ctx.interaction.channel_id;
    if (!channelId) return ephemeral('❌ Choose a channel.');
    // Posting is a bot-token call that may wait out a rate limit past Discord's 3 s for a first
    // answer: acknowledge first, then post and edit the answer.
    return deferEphemeral(async () => {
      await ctx.bot.api.postMessage(channelId, panelMessage(link.app.name));
      await writeAudit(ctx.bot.deps.db.orm, actor, { applicationId: link.app.id, action: 'discord.panel_posted', target: `channel:${channelId}` });
      await ctx.bot.api.editOriginal(ctx.interaction.token, { content: `✅ Panel posted in <#${channelId}>.`, allowed_mentions: { parse: [] } });
    });
  },
};
