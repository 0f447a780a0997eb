import { roleAllows } from '../src/core/applications/access.js';
import { notFound } from '../src/core/errors.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { ephemeral } from '../src/discord/interaction.js';
import { statsEmbed } from '../src/discord/render.js';
import { sellerStatisticsSession } from '../src/discord/seller.js';
import { chartUrl } from '../src/discord/chart-links.js';
import { statsChartPng } from '../src/discord/stats-chart.js';

/** What the chart shows, in words: the image has no alt text, and a machine without fonts draws no legend. */
const CHART_CAPTION = 'Last 30 days (UTC): validations per day (blue, top); activations (green line) and new licenses (yellow bars) per day (bottom).';

/**
 * /stats: the figures and the chart in one answer where Keycord has a public URL (the chart is a
 * signed link Discord fetches: chart-links.ts); otherwise the figures at once, then the reply is
 * edited to carry `stats.png` as the embed's image once it is rendered (off the event loop,
 * reused while the figures are). A chart that fails leaves the figures in place.
 */
export const stats: Command = {
  data: sellerCommand('stats', 'Licenses and validations of the linked application, with a 30-day chart'),
  async execute(ctx) {
    const { link, role, statistics } = await sellerStatisticsSession(ctx);
    // As GET /api/statistics: the application is hidden once the developer has no part in it.
    if (!role || !roleAllows(role, 'read')) throw notFound('Application');
    const embed = statsEmbed(link.app.name, statistics);
    const { api, deps } = ctx.bot;
    const linked = chartUrl(ctx.bot.publicUrl, deps.box, statistics.daily);
    if (linked) return ephemeral('', { embeds: [{ ...embed, image: { url: linked }, footer: { text: CHART_CAPTION } }] });
    const token = ctx.interaction.token;
    return {
      ...ephemeral('', { embeds: [embed] }),
      after: async () => {
        try {
          const png = await statsChartPng(statistics.daily);
          await api.editOriginal(token, { embeds: [{ ...embed, image: { url: 'attachment://stats.png' }, footer: { text: CHART_CAPTION } }] }, [{ name: 'stats.png', data: png }]);
        } catch (err) {
          deps.log.warn({ err: (err as Error).message }, '/stats chart could not be attached');
        }
      },
    };
  },
};
