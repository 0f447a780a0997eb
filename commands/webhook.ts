import type { SlashCommandSubcommandBuilder } from '@discordjs/builders';
import { EVENT_TYPES, type EventType } from '../src/core/events/emit-event.js';
import { createWebhook, listDeliveries, listWebhooks, sendTestEvent } from '../src/core/webhooks/manage-webhooks.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { answerInTime, commandOptions, ephemeral, stringOption } from '../src/discord/interaction.js';
import { ellipsize } from '../src/discord/message-limits.js';
import { rowIdOf } from '../src/discord/row-id.js';
import { sellerSession } from '../src/discord/seller.js';

/** As the HTTP route bounds a webhook's url. */
const URL_MAX = 2048;
/** An application has at most 20 webhooks, so one page holds them all. */
const ALL_WEBHOOKS = { page: 1, perPage: 25 };
/** Each /webhook list line is cut to this (its url to LISTED_URL_MAX): 20 of them fit a message's 2,000 characters. */
const LIST_LINE_MAX = 95;
const LISTED_URL_MAX = 50;
const DELIVERIES_PAGE = 10;

/** Seller-typed text inside a code span its backticks cannot end, cut to `max` characters. */
const inlineCode = (text: string, max = 200) => {
  const flat = text.replaceAll('`', "'");
  return `\`${flat.length > max ? `${flat.slice(0, max)}…` : flat}\``;
};

/** The webhook a seller picked in autocomplete (its id), or typed as an id ("#12" too); null for anything else. */
const webhookIdOf = (text: string | undefined) => rowIdOf(text?.trim().replace(/^#\s*/, ''));

/** The event types of a comma- or space-separated list; all of them when it is left out. */
function eventsOf(text: string | undefined): { events: EventType[] } | { unknown: string[] } {
  const named = (text ?? '').split(/[\s,]+/).filter(Boolean);
  if (named.length === 0 || (named.length === 1 && named[0]!.toLowerCase() === 'all')) return { events: [...EVENT_TYPES] };
  const unknown = named.filter((n) => !(EVENT_TYPES as readonly string[]).includes(n));
  return unknown.length ? { unknown } : { events: [...new Set(named as EventType[])] };
}

const withWebhook = (s: SlashCommandSubcommandBuilder) =>
  s.addStringOption((o) => o.setName('webhook').setDescription('The webhook (pick from the list)').setRequired(true).setMaxLength(20).setAutocomplete(true));

/**
 * /webhook list|add|test|deliveries: the linked application's webhooks, through the core the HTTP
 * routes use (the url rules, roles, audit entries, the test event and its deliveries).
 */
export const webhook: Command = {
  data: sellerCommand('webhook', 'Signed event deliveries to your endpoints')
    .addSubcommand((s) => s.setName('list').setDescription('The webhooks'))
    .addSubcommand((s) =>
      s
        .setName('add')
        .setDescription('Add a webhook; its signing secret is shown to you once')
        .addStringOption((o) => o.setName('url').setDescription('https://… (a public address)').setRequired(true).setMaxLength(URL_MAX))
        .addStringOption((o) => o.setName('events').setDescription('Event types, comma-separated (default: all)').setMaxLength(1000)),
    )
    .addSubcommand((s) => withWebhook(s.setName('test').setDescription('Send it a webhook.test event')))
    .addSubcommand((s) => withWebhook(s.setName('deliveries').setDescription('Its last deliveries: status, attempts, response code'))),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { subcommand, options } = commandOptions(ctx.interaction);
    const deps = ctx.bot.deps;
    switch (subcommand) {
      case 'list': {
        const { total, items } = await listWebhooks(deps, actor, link.app.id, ALL_WEBHOOKS);
        if (total === 0) return ephemeral('No webhooks yet. Add one with /webhook add.');
        const lines = items.map((w) =>
          ellipsize(
            `#${w.id} · ${inlineCode(w.url, LISTED_URL_MAX)} · ${w.active ? 'active' : 'paused'} · ${w.events.length === EVENT_TYPES.length ? 'all events' : `${w.events.length} event${w.events.length === 1 ? '' : 's'}`}`,
            LIST_LINE_MAX,
          ),
        );
        return ephemeral([`**Webhooks** (${total})`, ...lines].join('\n'));
      }
      case 'add': {
        const url = stringOption(options, 'url')?.trim();
        if (!url) return ephemeral('❌ Give the url.');
        if (url.length > URL_MAX) return ephemeral(`❌ The url is at most ${URL_MAX} characters.`);
        const chosen = eventsOf(stringOption(options, 'events'));
        if ('unknown' in chosen) return ephemeral(`❌ Unknown event type ${inlineCode(chosen.unknown.join(', '), 100)}. Known: ${EVENT_TYPES.join(', ')}.`);
        // The url is looked up in DNS (no bound on how long that takes), and the secret is shown
        // only in this answer: it must reach the seller even when that is past Discord's 3 s.
        const added = createWebhook(deps, actor, link.app.id, { url, events: chosen.events }).then((hook) => ({
          content: [
            `✅ Webhook #${hook.id} added for ${inlineCode(hook.url)} (${hook.events.length === EVENT_TYPES.length ? 'all events' : hook.events.join(', ')}).`,
            'Signing secret (shown only now; deliveries carry `X-Keycord-Signature`, an HMAC-SHA256 with it):',
            `\`\`\`\n${hook.secret}\n\`\`\``,
          ].join('\n'),
        }));
        return answerInTime(ctx, added);
      }
      case 'test': {
        const id = webhookIdOf(stringOption(options, 'webhook'));
        if (id === null) return ephemeral('❌ Pick a webhook from the list (or give its id).');
        const { event_id } = await sendTestEvent(deps, actor, id);
        return ephemeral(`📨 Test event #${event_id} queued for webhook #${id}. See /webhook deliveries in a moment.`);
      }
      case 'deliveries': {
        const id = webhookIdOf(stringOption(options, 'webhook'));
        if (id === null) return ephemeral('❌ Pick a webhook from the list (or give its id).');
        const { total, items } = await listDeliveries(deps, actor, id, { page: 1, perPage: DELIVERIES_PAGE });
        if (total === 0) return ephemeral(`Webhook #${id} has no deliveries yet.`);
        const lines = items.map(
          (d) =>
            `#${d.id} · ${d.event_type} · ${d.status} · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'} · ${d.last_status_code === null ? 'no response code' : `HTTP ${d.last_status_code}`} · <t:${Math.floor(new Date(d.created_at).getTime() / 1000)}:R>`,
        );
        return ephemeral([`**Deliveries of webhook #${id}** (last ${items.length} of ${total})`, ...lines].join('\n'));
      }
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },

  async autocomplete(ctx, focused) {
    if (focused.name !== 'webhook') return [];
    const { link, actor } = await sellerSession(ctx);
    const { items } = await listWebhooks(ctx.bot.deps, actor, link.app.id, ALL_WEBHOOKS);
    const text = focused.value.trim().replace(/^#/, '').toLowerCase();
    return items
      .filter((w) => !text || String(w.id).startsWith(text) || w.url.toLowerCase().includes(text))
      .slice(0, 25)
      .map((w) => ({ name: `#${w.id} · ${w.url}`.slice(0, 100), value: String(w.id) }));
  },
};
