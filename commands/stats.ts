import { SlashCommandBuilder } from '@discordjs/builders';
import { InteractionContextType } from 'discord-api-types/v10';
import { roleAllows } from '../src/core/applications/access.js';
import { notFound } from '../src/core/errors.js';
import type { Command } from '../src/discord/command.js';
import { ephemeral } from '../src/discord/interaction.js';
import { statsEmbed } from '../src/discord/render.js';
import { sellerStatisticsSession } from '../src/discord/seller.js';

export const stats: Command = {
  data: new SlashCommandBuilder().setName('stats').setDescription('Licenses and validations of the linked application').setContexts(InteractionContextType.Guild),
  async execute(ctx) {
    const { link, role, statistics } = await sellerStatisticsSession(ctx);
    // As GET /api/statistics: the application is hidden once the developer has no part in it.
    if (!role || !roleAllows(role, 'read')) throw notFound('Application');
    return ephemeral('', { embeds: [statsEmbed(link.app.name, statistics)] });
  },
};
