import { ActionRowBuilder, ButtonBuilder, EmbedBuilder, LabelBuilder, ModalBuilder, StringSelectMenuBuilder, TextInputBuilder } from '@discordjs/builders';
import { ButtonStyle, TextInputStyle, type APIEmbed, type APIModalInteractionResponseCallbackData } from 'discord-api-types/v10';
import type { CustomerLicense } from '../core/customers/customer-licenses.js';
import type { SeatUse } from '../core/licenses/floating-seats.js';
import type { LeaseUse } from '../core/licenses/lease-state.js';
import type { LicenseView } from '../core/licenses/license-view.js';
import { encodeCustomId, type CustomId } from './custom-ids.js';
import { ellipsize } from './message-limits.js';

/**
 * Pure renderings of core results into Discord messages: no I/O here, so each is testable alone.
 * (Keys are rendered by keys-message.ts: they may need compressing.)
 */

/** Discord's limits on an embed's description and on a field's value. */
const DESCRIPTION_MAX = 4096;
const FIELD_VALUE_MAX = 1024;

/**
 * The embeds every read command answers with are built as plain objects: the builders validate
 * each setter through shapeshift, which constructs (and discards) an error with a stack trace for
 * every nullable field it checks — a tenth of a /license info. Discord's limits are still checked,
 * so a rendering past one fails here, with the stack in the log, as the builders made it fail.
 */
function withinLimits(embed: APIEmbed): APIEmbed {
  const fields = embed.fields ?? [];
  const over =
    (embed.title?.length ?? 0) > 256 ||
    (embed.description?.length ?? 0) > DESCRIPTION_MAX ||
    fields.length > 25 ||
    fields.some((f) => f.name.length < 1 || f.name.length > 256 || f.value.length < 1 || f.value.length > FIELD_VALUE_MAX);
  if (over) throw new RangeError('the embed is past one of Discord’s limits');
  return embed;
}

const ts = (d: Date | string | null) => (d ? `<t:${Math.floor(new Date(d).getTime() / 1000)}:f>` : 'never');

/**
 * A list within `max` characters (an embed's description, a field's value): whole entries while
 * they fit, then "…and N more" for the rest — `unlisted` counts entries not even passed in. A
 * list cut mid-entry would mislead, and one past the limit makes Discord refuse the whole answer.
 */
function fitEntries(entries: string[], max: number, opts: { separator?: string; unlisted?: number; moreNote?: string } = {}): string {
  const separator = opts.separator ?? '\n';
  const unlisted = opts.unlisted ?? 0;
  const all = entries.join(separator);
  if (unlisted === 0 && all.length <= max) return all;
  const more = (n: number) => `…and ${n} more${opts.moreNote ?? ''}`;
  const total = entries.length + unlisted;
  // Room is kept for the longest count the note can have, so the note always fits too.
  const room = max - separator.length - more(total).length;
  let text = '';
  let shown = 0;
  for (const entry of entries) {
    const next = shown ? `${text}${separator}${entry}` : entry;
    if (next.length > room) break;
    text = next;
    shown++;
  }
  return shown ? `${text}${separator}${more(total - shown)}` : more(total);
}

export function panelMessage(appName: string) {
  return {
    embeds: [
      new EmbedBuilder()
        .setTitle(`${appName} — licenses`)
        .setDescription('**Redeem key** links a key you bought to your Discord account.\n**My licenses** shows yours.\n**Reset HWID** frees a license to move it to another computer.')
        .setColor(0x5865f2)
        .toJSON(),
    ],
    components: [
      new ActionRowBuilder<ButtonBuilder>()
        .addComponents(
          new ButtonBuilder()
            .setCustomId(encodeCustomId({ kind: 'panel', action: 'redeem' }))
            .setLabel('Redeem key')
            .setStyle(ButtonStyle.Primary),
          new ButtonBuilder()
            .setCustomId(encodeCustomId({ kind: 'panel', action: 'licenses' }))
            .setLabel('My licenses')
            .setStyle(ButtonStyle.Secondary),
          new ButtonBuilder()
            .setCustomId(encodeCustomId({ kind: 'panel', action: 'reset' }))
            .setLabel('Reset HWID')
            .setStyle(ButtonStyle.Danger),
        )
        .toJSON(),
    ],
  };
}

/** Licenses one page of My licenses shows. */
export const LICENSES_PAGE_SIZE = 10;
/**
 * An entry is under 300 characters (a plan name is at most 100, the seats and the lease line
 * about 100 together); cut to this anyway, a full page (10 × 400 + separators) fits the 4,096
 * characters of an embed's description, so no license is ever left off a page.
 */
const LICENSE_ENTRY_MAX = 400;

/** The page shown for a requested one (0-based; past the end is the last page) and how many pages `total` items make. */
function pageWithin(total: number, pageSize: number, page: number) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return { page: Math.min(Math.max(0, page), pages - 1), pages };
}

/** Previous/Next for page `page` of `pages` (0-based), disabled at either end. */
function pager(page: number, pages: number, idOf: (page: number) => string) {
  return new ActionRowBuilder<ButtonBuilder>()
    .addComponents(
      new ButtonBuilder()
        .setCustomId(idOf(Math.max(0, page - 1)))
        .setLabel('Previous')
        .setStyle(ButtonStyle.Secondary)
        .setDisabled(page === 0),
      new ButtonBuilder()
        .setCustomId(idOf(Math.min(pages - 1, page + 1)))
        .setLabel('Next')
        .setStyle(ButtonStyle.Secondary)
        .setDisabled(page === pages - 1),
    )
    .toJSON();
}

/** One license of My licenses: plan, masked key, status, expiry, HWID, seats and offline lease. */
function customerLicenseEntry(l: CustomerLicense): string {
  const expires = l.expiresAt ? ts(l.expiresAt) : l.status === 'inactive' ? 'starts at first use' : 'never';
  return ellipsize(
    `**${ellipsize(l.planName, 100)}** · \`${maskKey(l.licenseKey)}\`\nStatus: ${l.status} · Expires: ${expires} · HWID: ${l.hwidBound ? 'bound' : 'not bound'}${l.seats ? ` · ${seatsText(l.seats)}` : ''}${l.leases ? `\nOffline lease: ${leasesText(l.leases)}` : ''}`,
    LICENSE_ENTRY_MAX,
  );
}

/**
 * A page of My licenses: the page's licenses (`items`, at most LICENSES_PAGE_SIZE, of `total`)
 * in the embed, "N licenses · page X of Y" under them, and Previous/Next when there is more than
 * one page. `page` is 0-based, as the page buttons carry it.
 */
export function customerLicensesMessage(list: { total: number; items: CustomerLicense[] }, requested: number) {
  const { page, pages } = pageWithin(list.total, LICENSES_PAGE_SIZE, requested);
  const count = `${list.total.toLocaleString('en-US')} license${list.total === 1 ? '' : 's'}`;
  const embed = withinLimits({
    title: 'Your licenses',
    color: 0x57f287,
    description: list.items.slice(0, LICENSES_PAGE_SIZE).map(customerLicenseEntry).join('\n\n'),
    footer: { text: pages > 1 ? `${count} · page ${page + 1} of ${pages}` : count },
  });
  return { embeds: [embed], components: pages > 1 ? [pager(page, pages, (p) => encodeCustomId({ kind: 'licenses-page', page: p }))] : [] };
}

/**
 * Shows enough of a key to recognise it, in case someone looks over a shoulder — and in a log
 * channel, which everyone who can read the channel sees: at most a quarter of its characters, the
 * first and last four of a long key, the end of a shorter one. A custom mask may make a key of 14
 * characters (`XXXX-XXXX-XXXX`, 62 bits); its first and last four would leave 4 random characters
 * (~21 bits) to guess through the client API. Keys are at least 12 characters (60 bits): shorter
 * text is no key of ours and is shown as it is.
 */
export function maskKey(key: string): string {
  if (key.length <= 8) return key;
  const shown = Math.floor(key.length / 4);
  return shown >= 8 ? `${key.slice(0, 4)}…${key.slice(-4)}` : `…${key.slice(-shown)}`;
}

/** Licenses per page of the reset menu: a select holds at most 25 options. */
export const RESET_PAGE_SIZE = 25;

const RESET_PROMPT = 'Which license should be freed from its current computer?';

/**
 * A page of the reset menu: a select of the page's licenses (`items`, at most RESET_PAGE_SIZE, of
 * `total`), HWID-bound ones first within the page (those are the ones worth resetting), and, when
 * there is more than one page, "N licenses · page X of Y" under the prompt and Previous/Next.
 * Pages follow the licenses' age, not their binding: a reset does not move a license to another
 * page under a customer turning them. `page` is 0-based, as the page buttons carry it.
 */
export function resetMenu(list: { total: number; items: CustomerLicense[] }, requested = 0) {
  const { page, pages } = pageWithin(list.total, RESET_PAGE_SIZE, requested);
  const shown = list.items.slice(0, RESET_PAGE_SIZE);
  const ordered = [...shown.filter((l) => l.hwidBound), ...shown.filter((l) => !l.hwidBound)];
  const select = new ActionRowBuilder<StringSelectMenuBuilder>()
    .addComponents(
      new StringSelectMenuBuilder()
        .setCustomId(encodeCustomId({ kind: 'reset-select' }))
        .setPlaceholder(pages > 1 ? `Choose the license to reset (page ${page + 1} of ${pages})` : 'Choose the license to reset')
        .addOptions(ordered.map((l) => ({ label: `${l.planName} · ${maskKey(l.licenseKey)}`.slice(0, 100), value: String(l.id), description: l.hwidBound ? 'HWID bound' : 'No HWID bound' }))),
    )
    .toJSON();
  if (pages === 1) return { content: RESET_PROMPT, components: [select] };
  const count = `${list.total.toLocaleString('en-US')} licenses · page ${page + 1} of ${pages}`;
  return { content: `${RESET_PROMPT}\n${count}`, components: [select, pager(page, pages, (p) => encodeCustomId({ kind: 'reset-page', page: p }))] };
}

/** Floating seats as both views say them. */
const seatsText = (seats: SeatUse) => `Seats: ${seats.used} of ${seats.max} in use`;

/** Live offline leases as both views say them: "until <end> (2 machines)". */
const leasesText = (leases: LeaseUse) => `until ${ts(leases.until)} (${leases.machines} ${leases.machines === 1 ? 'machine' : 'machines'})`;

export function licenseInfoEmbed(l: LicenseView, seats: SeatUse | null = null, leases: LeaseUse | null = null) {
  return withinLimits({
    title: `License ${l.license_key}`,
    color: l.status === 'active' ? 0x57f287 : l.status === 'banned' ? 0xed4245 : 0xfee75c,
    fields: [
      { name: 'Plan', value: `${l.plan.name} (${l.plan.duration_days === 0 ? 'lifetime' : `${l.plan.duration_days} days`})`, inline: true },
      { name: 'Status', value: l.status, inline: true },
      { name: 'Owner', value: l.discord_user_id ? `<@${l.discord_user_id}>` : 'unclaimed', inline: true },
      { name: 'Activated', value: ts(l.activation_date), inline: true },
      { name: 'Expires', value: l.expires_at ? ts(l.expires_at) : l.plan.duration_days === 0 ? 'never' : 'at first use + duration', inline: true },
      {
        name: 'HWIDs',
        value: l.hwids.length
          ? fitEntries(
              l.hwids.map((h) => `\`${h.slice(0, 64)}\``),
              FIELD_VALUE_MAX,
            )
          : 'none',
        inline: false,
      },
      ...(seats ? [{ name: 'Seats', value: `${seats.used} of ${seats.max} in use`, inline: true }] : []),
      ...(leases ? [{ name: 'Offline lease', value: leasesText(leases), inline: true }] : []),
      { name: 'Last used', value: ts(l.last_used), inline: true },
      { name: 'Notes', value: l.notes?.slice(0, 1000) || '—', inline: false },
    ],
  });
}

/** How many plans /plans reads: at most a line each, as many as fit in the embed's description. */
export const PLANS_SHOWN = 25;

export function plansEmbed(appName: string, plans: { total: number; items: { id: number; name: string; duration_days: number; max_hwids: number | null; discord_role_id: string | null }[] }) {
  const lines = plans.items.map(
    (p) =>
      `**${p.name}** (#${p.id}) · ${p.duration_days === 0 ? 'lifetime' : `${p.duration_days} days`}${p.max_hwids ? ` · ${p.max_hwids} HWIDs` : ''}${p.discord_role_id ? ` · grants <@&${p.discord_role_id}>` : ''}`,
  );
  const description =
    plans.total === 0
      ? 'No plans yet. Create one with the API (POST /api/plans).'
      : fitEntries(lines, DESCRIPTION_MAX, { unlisted: Math.max(0, plans.total - plans.items.length), moreNote: ' (GET /api/applications/:id/plans lists them all).' });
  return withinLimits({ title: `${appName} — plans`, description });
}

export function statsEmbed(appName: string, s: { licenses: Record<string, number>; validations: { last_24h: number; last_7d: number; success_rate: number | null } }) {
  return withinLimits({
    title: `${appName} — statistics`,
    fields: [
      { name: 'Licenses', value: `${s.licenses.total} total\n${s.licenses.active} active · ${s.licenses.inactive} unused\n${s.licenses.expired} expired · ${s.licenses.banned} banned` },
      {
        name: 'Validations',
        value: `${s.validations.last_24h} today · ${s.validations.last_7d} in 7 days\nSuccess rate: ${s.validations.success_rate === null ? '—' : `${(s.validations.success_rate * 100).toFixed(1)}%`}`,
      },
    ],
  });
}

export function setupModal(id: Extract<CustomId, { kind: 'setup-modal' }>): APIModalInteractionResponseCallbackData {
  return new ModalBuilder()
    .setCustomId(encodeCustomId(id))
    .setTitle('Link this server to Keycord')
    .addLabelComponents(
      new LabelBuilder()
        .setLabel('Application ID')
        .setTextInputComponent(new TextInputBuilder().setCustomId('app_id').setStyle(TextInputStyle.Short).setMinLength(36).setMaxLength(36).setRequired(true)),
      new LabelBuilder().setLabel('API key').setTextInputComponent(new TextInputBuilder().setCustomId('api_key').setStyle(TextInputStyle.Short).setMinLength(10).setMaxLength(200).setRequired(true)),
    )
    .toJSON();
}

export function redeemModal(): APIModalInteractionResponseCallbackData {
  return new ModalBuilder()
    .setCustomId(encodeCustomId({ kind: 'redeem-modal' }))
    .setTitle('Redeem a license key')
    .addLabelComponents(
      new LabelBuilder()
        .setLabel('License key')
        .setTextInputComponent(new TextInputBuilder().setCustomId('license_key').setStyle(TextInputStyle.Short).setMinLength(4).setMaxLength(200).setRequired(true)),
    )
    .toJSON();
}

export function expiryNoticeText(type: 'license.expiring_soon' | 'license.expired', appName: string, license: { license_key: string; expires_at: string | null }) {
  const key = maskKey(license.license_key);
  return type === 'license.expired'
    ? `Your **${appName}** license \`${key}\` has expired.`
    : `Your **${appName}** license \`${key}\` expires ${license.expires_at ? `<t:${Math.floor(new Date(license.expires_at).getTime() / 1000)}:R>` : 'soon'}.`;
}
