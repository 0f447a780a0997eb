import { addBlacklistEntry, deleteBlacklistEntry, listBlacklist } from '../src/core/blacklists/manage-blacklist.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, numberOption, stringOption, pageOption } from '../src/discord/interaction.js';
import { ellipsize } from '../src/discord/message-limits.js';
import { sellerSession } from '../src/discord/seller.js';
import { INT4_MAX } from '../src/http/schemas.js';

/** Entries one /blacklist list shows: one line each, cut to LINE_MAX, so a page stays inside a message's 2,000 characters. */
const LIST_PAGE = 15;
const LINE_MAX = 125;
/** As /license info shows a HWID; an IP or CIDR range is shorter. */
const VALUE_SHOWN_MAX = 64;

/** One entry as a line: the value in a code span its backticks cannot end, the reason on the same line. */
function entryLine(e: { id: number; type: string; value: string; reason: string | null }): string {
  const value = ellipsize(e.value.replaceAll('`', "'"), VALUE_SHOWN_MAX);
  const reason = e.reason ? ` — ${e.reason.replace(/\s+/g, ' ')}` : '';
  return ellipsize(`#${e.id} · ${e.type === 'ip' ? 'IP' : 'HWID'} \`${value}\`${reason}`, LINE_MAX);
}

/**
 * /blacklist add|remove|list: the linked application's HWID and IP/CIDR blacklist, through the
 * same core use cases as the HTTP routes (permissions, limits, audit, the cache's coherence).
 */
export const blacklist: Command = {
  data: sellerCommand('blacklist', 'Refuse HWIDs or IP addresses on every client route')
    .addSubcommand((s) =>
      s
        .setName('add')
        .setDescription('Blacklist a HWID, an IP address or a CIDR range')
        .addStringOption((o) => o.setName('type').setDescription('What to refuse').setRequired(true).addChoices({ name: 'HWID', value: 'hwid' }, { name: 'IP address or CIDR range', value: 'ip' }))
        .addStringOption((o) => o.setName('value').setDescription('The HWID, or e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32').setRequired(true).setMaxLength(256))
        .addStringOption((o) => o.setName('reason').setDescription('Why (kept with the entry)').setMaxLength(500)),
    )
    .addSubcommand((s) =>
      s
        .setName('remove')
        .setDescription('Remove an entry')
        .addIntegerOption((o) => o.setName('id').setDescription('The entry id (from /blacklist list)').setRequired(true).setMinValue(1).setMaxValue(INT4_MAX)),
    )
    .addSubcommand((s) =>
      s
        .setName('list')
        .setDescription('The entries, oldest first')
        .addIntegerOption((o) => o.setName('page').setDescription(`Page (${LIST_PAGE} per page)`).setMinValue(1).setMaxValue(INT4_MAX)),
    ),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { subcommand, options } = commandOptions(ctx.interaction);
    const deps = ctx.bot.deps;
    switch (subcommand) {
      case 'add': {
        const type = stringOption(options, 'type');
        const value = stringOption(options, 'value');
        if ((type !== 'hwid' && type !== 'ip') || !value) return ephemeral('❌ Give a type (HWID or IP) and a value.');
        const entry = await addBlacklistEntry(deps, actor, { application_id: link.app.id, type, value, reason: stringOption(options, 'reason') ?? null });
        return ephemeral(`🚫 Blacklisted ${entry.type === 'ip' ? 'IP' : 'HWID'} \`${entry.value}\` (entry #${entry.id}). Client routes now answer BLACKLISTED.`);
      }
      case 'remove': {
        const id = numberOption(options, 'id');
        // Bounded as the HTTP route's id is: a larger number is no entry, not a database error.
        if (!id || !Number.isInteger(id) || id < 1 || id > INT4_MAX) return ephemeral('❌ Give the entry id (see /blacklist list).');
        await deleteBlacklistEntry(deps, actor, id);
        return ephemeral(`✅ Entry #${id} removed.`);
      }
      case 'list': {
        const page = pageOption(options);
        const { total, items } = await listBlacklist(deps, actor, link.app.id, { page, perPage: LIST_PAGE });
        if (total === 0) return ephemeral('The blacklist is empty. Add entries with /blacklist add.');
        const pages = Math.ceil(total / LIST_PAGE);
        return ephemeral([`**Blacklist** (${total} entr${total === 1 ? 'y' : 'ies'}, page ${Math.min(page, pages)} of ${pages})`, ...items.map(entryLine)].join('\n'));
      }
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },
};
