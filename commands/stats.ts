import { SlashCommandBuilder } from '@discordjs/builders';
import { InteractionContextType } from 'discord-api-types/v10';
import { getStatistics } from '../src/core/statistics/get-statistics.js';
import type { Command } from '../src/discord/command.js';
import { ephemeral } from '../src/discord/interaction.js';
import { statsEmbed } from '../src/discord/render.js';
import { sellerSession } from '../src/discord/seller.js';

export const stats: Command = {
  data: new SlashCommandBuilder().setName('stats').setDescription('Licenses and validations of the linked application').setContexts(InteractionContextType.Guild),
  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    return ephemeral('', { embeds: [statsEmbed(link.app.name, await getStatistics(ctx.bot.deps, actor, link.app.id))] });
  },
};
