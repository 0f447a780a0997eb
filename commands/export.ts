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
 * filters them, as a CSV attachment (ephemeral: it holds every key). The filters are checked and
 * the matches counted before the interaction is acknowledged, so bad input is an immediate
 * ephemeral refusal; the file is built and uploaded after, with progress edits when it is long.
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
    const exp = await startLicenseExport(ctx.bot.deps, actor, link.app.id, {
      status: stringOption(options, 'status'),
      plan_id: planId,
      search: stringOption(options, 'search'),
    });
    if (exp.total === 0) return ephemeral('No licenses match these filters: nothing to export.');
    const day = ctx.bot.deps.clock.now().toISOString().slice(0, 10);
    return deferEphemeral(async () => {
      // Taken once the reply is deferred, released whatever happens: a slot cannot leak.
      const slot = takeExportSlot(link.app.id);
      if ('busy' in slot) {
        await ctx.bot.api.editOriginal(ctx.interaction.token, { content: `⏳ ${slot.busy}` });
        return;
      }
      try {
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
