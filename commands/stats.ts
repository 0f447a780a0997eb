import { roleAllows } from '../src/core/applications/access.js';
import { notFound } from '../src/core/errors.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { ephemeral } from '../src/discord/interaction.js';
import { statsEmbed } from '../src/discord/render.js';
import { sellerStatisticsSession } from '../src/discord/seller.js';

export const stats: Command = {
  data: sellerCommand('stats', 'Licenses and validations of the linked application'),
  async execute(ctx) {
    const { link, role, statistics } = await sellerStatisticsSession(ctx);
    // As GET /api/statistics: the application is hidden once the developer has no part in it.
    if (!role || !roleAllows(role, 'read')) throw notFound('Application');
    return ephemeral('', { embeds: [statsEmbed(link.app.name, statistics)] });
  },
};
