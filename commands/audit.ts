import { listLogs } from '../src/core/logs/list-logs.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, pageOption } from '../src/discord/interaction.js';
import { ellipsize } from '../src/discord/message-limits.js';
import { sellerSession } from '../src/discord/seller.js';
import { INT4_MAX } from '../src/http/schemas.js';

/** Entries one /audit page shows; each line is cut, so a page stays inside a message's 2,000 characters. */
const AUDIT_PAGE = 10;
const LINE_MAX = 170;

/** Text recorded from others (names, targets) on one line, its markdown characters escaped. */
const plain = (text: string) => text.replace(/\s+/g, ' ').replace(/[`*_~|>\\]/g, (c) => `\\${c}`);

/** /audit [page]: the linked application's audit trail, newest first (the log the HTTP route reads). */
export const audit: Command = {
  data: sellerCommand('audit', 'Recent changes to the linked application: who did what').addIntegerOption((o) =>
    o.setName('page').setDescription(`Page (${AUDIT_PAGE} entries per page, newest first)`).setMinValue(1).setMaxValue(INT4_MAX),
  ),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { options } = commandOptions(ctx.interaction);
    const page = pageOption(options);
    const { total, items } = await listLogs(ctx.bot.deps, actor, link.app.id, { type: 'audit', page, perPage: AUDIT_PAGE });
    if (total === 0) return ephemeral('The audit log is empty.');
    const pages = Math.ceil(total / AUDIT_PAGE);
    if (items.length === 0) return ephemeral(`❌ There are ${pages} page${pages === 1 ? '' : 's'}.`);
    const lines = items.map((e) => {
      const who = plain(e.actor.name ?? e.actor.id ?? e.actor.kind).slice(0, 40);
      const line = `<t:${Math.floor(new Date(e.created_at).getTime() / 1000)}:R> · ${plain(e.action)}${e.target ? ` ${plain(e.target)}` : ''} · ${who} (${e.actor.kind})`;
      return ellipsize(line, LINE_MAX);
    });
    return ephemeral([`**Audit log** (${total} entr${total === 1 ? 'y' : 'ies'}, page ${page} of ${pages})`, ...lines].join('\n'));
  },
};
