import { LICENSE_STATUSES } from '../src/core/licenses/license-view.js';
import { MAX_EXPORT_SEARCH, startLicenseExport } from '../src/core/licenses/export-licenses.js';
import { matchingPlans } from '../src/core/plans/list-plans.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, deferEphemeral, ephemeral, stringOption } from '../src/discord/interaction.js';
import { deliverLicenseExport, takeExportSlot } from '../src/discord/license-export.js';
import { rowIdOf } from '../src/discord/row-id.js';
import { sellerSession } from '../src/discord/seller.js';

/**
 * /export [status] [plan] [search]: the linked application's licenses, filtered as the HTTP list
 * filters them, as a CSV attachment (ephemeral: it holds every key). Only the member and the plan
 * option's form are checked before the interaction is acknowledged: counting the matches is a read
 * of every one of them, which on a large application can take past Discord's 3 s for a first
 * answer. The filters' refusals, "nothing to export" and the file are edited into the reply.
 */
export const exportCommand: Command = {
  data: sellerCommand('export', 'Download the licenses as a CSV file (only you see it)')
    .addStringOption((o) =>
      o
        .setName('status')
        .setDescription('Only licenses with this status')
        .addChoices(...LICENSE_STATUSES.map((s) => ({ name: s, value: s }))),
    )
    .addStringOption((o) => o.setName('plan').setDescription('Only licenses of this plan').setAutocomplete(true))
    .addStringOption((o) => o.setName('search').setDescription('Part of the key or the notes').setMaxLength(MAX_EXPORT_SEARCH)),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { options } = commandOptions(ctx.interaction);
    const plan = stringOption(options, 'plan');
    const planId = plan === undefined ? undefined : rowIdOf(plan);
    if (planId === null) return ephemeral('❌ Pick a plan from the list.');
    const filters = { status: stringOption(options, 'status'), plan_id: planId, search: stringOption(options, 'search') };
    const day = ctx.bot.deps.clock.now().toISOString().slice(0, 10);
    return deferEphemeral(async () => {
      // Taken once the reply is deferred and released whatever happens, so a slot cannot leak; taken
      // before the matches are counted, so a burst of /export waits its turn before reading any.
      const slot = takeExportSlot(link.app.id);
      if ('busy' in slot) {
        await ctx.bot.api.editOriginal(ctx.interaction.token, { content: `⏳ ${slot.busy}` });
        return;
      }
      try {
        const exp = await startLicenseExport(ctx.bot.deps, actor, link.app.id, filters);
        if (exp.total === 0) {
          await ctx.bot.api.editOriginal(ctx.interaction.token, { content: 'No licenses match these filters: nothing to export.' });
          return;
        }
        await deliverLicenseExport(ctx, exp, { baseName: `licenses-${day}` });
      } finally {
        slot.release();
      }
    });
  },

  async autocomplete(ctx, focused) {
    if (focused.name !== 'plan') return [];
    const { link, actor } = await sellerSession(ctx);
    const plans = await matchingPlans(ctx.bot.deps, actor, link.app.id, focused.value);
    return plans.map((p) => ({ name: `${p.name} (${p.duration_days === 0 ? 'lifetime' : `${p.duration_days} days`})`.slice(0, 100), value: String(p.id) }));
  },
};
