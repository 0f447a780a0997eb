import { listPlans } from '../src/core/plans/list-plans.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { ephemeral } from '../src/discord/interaction.js';
import { PLANS_SHOWN, plansEmbed } from '../src/discord/render.js';
import { sellerSession } from '../src/discord/seller.js';

export const plans: Command = {
  data: sellerCommand('plans', "The linked application's plans"),
  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    return ephemeral('', { embeds: [plansEmbed(link.app.name, await listPlans(ctx.bot.deps, actor, link.app.id, { page: 1, perPage: PLANS_SHOWN }))] });
  },
};
