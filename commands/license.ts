import type { SlashCommandSubcommandBuilder } from '@discordjs/builders';
import { roleAllows } from '../src/core/applications/access.js';
import { notFound } from '../src/core/errors.js';
import { BULK_REASON_MAX, BULK_SEARCH_MAX, requestBulkAction } from '../src/core/jobs/bulk-license-job.js';
import type { BulkAction } from '../src/core/licenses/bulk-license-action.js';
import { deleteLicense } from '../src/core/licenses/delete-license.js';
import { banLicense, extendLicense, unbanLicense, updateLicenseNotes } from '../src/core/licenses/license-actions.js';
import { LICENSE_STATUSES, toLicenseView } from '../src/core/licenses/license-view.js';
import { listLicenses, type LicenseFilters } from '../src/core/licenses/list-licenses.js';
import { matchingLicenseKeys } from '../src/core/licenses/matching-license-keys.js';
import { resetLicenseHwid } from '../src/core/licenses/reset-license-hwid.js';
import { matchingPlans } from '../src/core/plans/list-plans.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, idOption, numberOption, stringOption, type InteractionContext, pageOption } from '../src/discord/interaction.js';
import { bulkButtons, bulkQuestion } from '../src/discord/license-bulk.js';
import { SEARCH_PAGE, searchMessage } from '../src/discord/license-search.js';
import { licenseInfoEmbed } from '../src/discord/render.js';
import { rowIdOf } from '../src/discord/row-id.js';
import { sellerLicenseSession, sellerSession } from '../src/discord/seller.js';
import { INT4_MAX } from '../src/http/schemas.js';

const withKey = (s: SlashCommandSubcommandBuilder) => s.addStringOption((o) => o.setName('key').setDescription('The license key').setRequired(true).setMaxLength(256).setAutocomplete(true));

const statusChoices = LICENSE_STATUSES.map((s) => ({ name: s, value: s }));
/** The filters /license search and /license bulk share (those of GET /api/applications/:id/licenses). */
const withFilters = (s: SlashCommandSubcommandBuilder) =>
  s
    .addStringOption((o) =>
      o
        .setName('status')
        .setDescription('Only licenses with this status')
        .addChoices(...statusChoices),
    )
    .addStringOption((o) => o.setName('plan').setDescription('Only licenses of this plan').setAutocomplete(true))
    .addStringOption((o) => o.setName('search').setDescription('Text the key or the notes contain').setMaxLength(BULK_SEARCH_MAX))
    .addUserOption((o) => o.setName('user').setDescription('Only licenses assigned to this member'));

type Options = ReturnType<typeof commandOptions>['options'];

/** The filters as typed, checked as the HTTP list checks its query; a message when they are not acceptable. */
function readFilters(options: Options): { filters: LicenseFilters } | { error: string } {
  const filters: LicenseFilters = {};
  const status = stringOption(options, 'status');
  if (status !== undefined) {
    if (!(LICENSE_STATUSES as readonly string[]).includes(status)) return { error: `❌ status must be one of ${LICENSE_STATUSES.join(', ')}.` };
    filters.status = status as LicenseFilters['status'];
  }
  const plan = stringOption(options, 'plan');
  if (plan !== undefined) {
    const planId = rowIdOf(plan);
    if (planId === null) return { error: '❌ Pick a plan from the list.' };
    filters.plan_id = planId;
  }
  const search = stringOption(options, 'search');
  if (search !== undefined && search.length > BULK_SEARCH_MAX) return { error: `❌ search may be at most ${BULK_SEARCH_MAX} characters.` };
  if (search) filters.search = search;
  const user = idOption(options, 'user');
  if (stringOption(options, 'user') !== undefined && !user) return { error: '❌ Pick a member for user.' };
  if (user) filters.discord_user_id = user;
  return { filters };
}

/** The filters in words, for the answer (every part bounded: search ≤ 100 characters). */
function describeFilters(f: LicenseFilters, planName?: string | null): string {
  const parts = [
    f.status ? `status ${f.status}` : '',
    f.plan_id !== undefined ? `plan ${planName ? `**${planName.slice(0, 40)}**` : `#${f.plan_id}`}` : '',
    f.search ? `containing \`${f.search.replace(/`/g, 'ˋ')}\`` : '',
    f.discord_user_id ? `assigned to <@${f.discord_user_id}>` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'every license';
}

async function search(ctx: InteractionContext, options: Options) {
  const { link, actor } = await sellerSession(ctx);
  const read = readFilters(options);
  if ('error' in read) return ephemeral(read.error);
  const page = pageOption(options);
  // The list GET /api/applications/:id/licenses answers, with the seller's permissions.
  const result = await listLicenses(ctx.bot.deps, actor, link.app.id, read.filters, { page, perPage: SEARCH_PAGE });
  return ephemeral(searchMessage(result, page, describeFilters(read.filters)));
}

async function bulk(ctx: InteractionContext, options: Options) {
  const { link, actor } = await sellerSession(ctx);
  const action = stringOption(options, 'action');
  if (action !== 'ban' && action !== 'delete') return ephemeral('❌ Pick an action: ban or delete.');
  const read = readFilters(options);
  if ('error' in read) return ephemeral(read.error);
  const reason = stringOption(options, 'reason') ?? null;
  if (reason !== null && reason.length > BULK_REASON_MAX) return ephemeral(`❌ reason may be at most ${BULK_REASON_MAX} characters.`);
  const preview = await requestBulkAction(ctx.bot.deps, actor, link.app.id, { action: action as BulkAction, filters: read.filters, reason: action === 'ban' ? reason : null });
  if (!preview) return ephemeral(`No license matches (${describeFilters(read.filters)}); nothing to ${action}.`);
  return ephemeral(bulkQuestion(action, preview.count, describeFilters(read.filters, preview.planName)), { components: bulkButtons(preview.jobId, preview.nonce, action) });
}

export const license: Command = {
  data: sellerCommand('license', 'Look after licenses')
    .addSubcommand((s) => withKey(s.setName('info').setDescription('Show a license')))
    .addSubcommand((s) => withKey(s.setName('delete').setDescription('Delete a license')))
    .addSubcommand((s) => withKey(s.setName('notes').setDescription('Set its notes')).addStringOption((o) => o.setName('notes').setDescription('Notes (empty clears them)').setMaxLength(1000)))
    .addSubcommand((s) => withKey(s.setName('ban').setDescription('Ban a license')).addStringOption((o) => o.setName('reason').setDescription('Why').setMaxLength(500)))
    .addSubcommand((s) =>
      withKey(s.setName('extend').setDescription('Add days')).addIntegerOption((o) => o.setName('days').setDescription('Days to add').setRequired(true).setMinValue(1).setMaxValue(36_500)),
    )
    .addSubcommand((s) => withKey(s.setName('reset-hwid').setDescription('Unbind its HWID (no cooldown for sellers)')))
    .addSubcommand((s) => withKey(s.setName('unban').setDescription('Lift a ban')))
    .addSubcommand((s) =>
      withFilters(s.setName('search').setDescription('Find licenses (shown only to you)')).addIntegerOption((o) =>
        o.setName('page').setDescription(`Page (${SEARCH_PAGE} per page)`).setMinValue(1).setMaxValue(INT4_MAX),
      ),
    )
    .addSubcommand((s) =>
      withFilters(
        s
          .setName('bulk')
          .setDescription('Ban or delete every license a filter matches (asks for confirmation)')
          .addStringOption((o) => o.setName('action').setDescription('What to do').setRequired(true).addChoices({ name: 'ban', value: 'ban' }, { name: 'delete', value: 'delete' })),
      ).addStringOption((o) => o.setName('reason').setDescription('Why (for a ban)').setMaxLength(BULK_REASON_MAX)),
    ),

  async execute(ctx) {
    const { subcommand, options } = commandOptions(ctx.interaction);
    if (subcommand === 'search') return search(ctx, options);
    if (subcommand === 'bulk') return bulk(ctx, options);
    const key = stringOption(options, 'key');
    // The link, the linking developer's role and the license come in one query; each write below
    // then checks access again inside its own transaction, as the HTTP door's writes do.
    const { actor, role, license } = await sellerLicenseSession(ctx, key);
    if (!key) return ephemeral('❌ Give the license key.');
    if (!license) throw notFound('License');
    const { id } = license.row;
    const deps = ctx.bot.deps;
    switch (subcommand) {
      case 'info':
        // As GET /api/licenses/:id: hidden (not found) once the developer has no part in the application.
        if (!role || !roleAllows(role, 'read')) throw notFound('License');
        return ephemeral('', { embeds: [licenseInfoEmbed(toLicenseView(license.row, license.plan, deps.clock.now()), license.seats, license.leases)] });
      case 'delete':
        await deleteLicense(deps, actor, id);
        return ephemeral('🗑️ License deleted.');
      case 'notes':
        await updateLicenseNotes(deps, actor, id, stringOption(options, 'notes') ?? null);
        return ephemeral('📝 Notes saved.');
      case 'ban':
        await banLicense(deps, actor, id, stringOption(options, 'reason') ?? null);
        return ephemeral('⛔ License banned.');
      case 'unban': {
        const l = await unbanLicense(deps, actor, id);
        return ephemeral(`✅ License unbanned; it is ${l.status} again.`);
      }
      case 'extend': {
        const days = numberOption(options, 'days');
        if (!days || days < 1) return ephemeral('❌ days must be at least 1.');
        const l = await extendLicense(deps, actor, id, days);
        return ephemeral(`⏩ Extended by ${days} days. ${l.expires_at ? `Now expires <t:${Math.floor(new Date(l.expires_at).getTime() / 1000)}:F>.` : 'The clock starts at first use.'}`);
      }
      case 'reset-hwid':
        await resetLicenseHwid(deps, actor, id);
        return ephemeral('♻️ HWID reset; the license will bind to the next computer that uses it.');
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },

  /** Keys of the linked application by what was typed, and its plans; a non-seller is offered nothing. */
  async autocomplete(ctx, focused) {
    const { link, actor } = await sellerSession(ctx);
    const deps = ctx.bot.deps;
    if (focused.name === 'plan') {
      const plans = await matchingPlans(deps, actor, link.app.id, focused.value);
      return plans.map((p) => ({ name: `${p.name} (${p.duration_days === 0 ? 'lifetime' : `${p.duration_days} days`})`.slice(0, 100), value: String(p.id) }));
    }
    if (focused.name === 'key') {
      const keys = await matchingLicenseKeys(deps, actor, link.app.id, focused.value);
      // A choice's name and value are at most 100 characters: a longer key cannot be offered.
      return keys.filter((k) => k.length <= 100).map((k) => ({ name: k, value: k }));
    }
    return [];
  },
};
