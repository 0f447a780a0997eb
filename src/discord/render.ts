import {
  ActionRowBuilder,
  ButtonBuilder,
  EmbedBuilder,
  LabelBuilder,
  ModalBuilder,
  StringSelectMenuBuilder,
  TextInputBuilder,
} from '@discordjs/builders';
import { ButtonStyle, TextInputStyle, type APIModalInteractionResponseCallbackData } from 'discord-api-types/v10';
import type { CustomerLicense } from '../core/customers/customer-licenses.js';
import type { LicenseView } from '../core/licenses/license-view.js';
import { encodeCustomId } from './custom-ids.js';
import type { MessageFile } from './discord-api.js';

/**
 * Pure renderings of core results into Discord messages: no I/O here, so each is testable alone.
 * Keys never go into a public message; up to 25 are shown in a code block, more as a .txt file.
 */
export const MAX_INLINE_KEYS = 25;

const ts = (d: Date | string | null) => (d ? `<t:${Math.floor(new Date(d).getTime() / 1000)}:f>` : 'never');

export function keysMessage(keys: string[], title: string): { content: string; files?: MessageFile[] } {
  if (keys.length <= MAX_INLINE_KEYS) return { content: `${title}\n\`\`\`\n${keys.join('\n')}\n\`\`\`` };
  return { content: `${title} (attached as keys.txt)`, files: [{ name: 'keys.txt', data: keys.join('\n') + '\n' }] };
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
          new ButtonBuilder().setCustomId(encodeCustomId({ kind: 'panel', action: 'redeem' })).setLabel('Redeem key').setStyle(ButtonStyle.Primary),
          new ButtonBuilder().setCustomId(encodeCustomId({ kind: 'panel', action: 'licenses' })).setLabel('My licenses').setStyle(ButtonStyle.Secondary),
          new ButtonBuilder().setCustomId(encodeCustomId({ kind: 'panel', action: 'reset' })).setLabel('Reset HWID').setStyle(ButtonStyle.Danger),
        )
        .toJSON(),
    ],
  };
}

export function customerLicensesEmbed(list: CustomerLicense[]) {
  const embed = new EmbedBuilder().setTitle('Your licenses').setColor(0x57f287);
  embed.setDescription(
    list
      .map((l) => `**${l.planName}** · \`${maskKey(l.licenseKey)}\`\nStatus: ${l.status} · Expires: ${l.expiresAt ? ts(l.expiresAt) : l.status === 'inactive' ? 'starts at first use' : 'never'} · HWID: ${l.hwidBound ? 'bound' : 'not bound'}`)
      .join('\n\n')
      .slice(0, 4000),
  );
  return embed.toJSON();
}

/** Shows enough of a key to recognise it, in case someone looks over a shoulder. */
export const maskKey = (key: string) => (key.length <= 8 ? key : `${key.slice(0, 4)}…${key.slice(-4)}`);

export function resetSelect(list: CustomerLicense[]) {
  return new ActionRowBuilder<StringSelectMenuBuilder>()
    .addComponents(
      new StringSelectMenuBuilder()
        .setCustomId(encodeCustomId({ kind: 'reset-select' }))
        .setPlaceholder('Choose the license to reset')
        .addOptions(list.slice(0, 25).map((l) => ({ label: `${l.planName} · ${maskKey(l.licenseKey)}`.slice(0, 100), value: String(l.id), description: l.hwidBound ? 'HWID bound' : 'No HWID bound' }))),
    )
    .toJSON();
}

export function licenseInfoEmbed(l: LicenseView) {
  return new EmbedBuilder()
    .setTitle(`License ${l.license_key}`)
    .setColor(l.status === 'active' ? 0x57f287 : l.status === 'banned' ? 0xed4245 : 0xfee75c)
    .addFields(
      { name: 'Plan', value: `${l.plan.name} (${l.plan.duration_days === 0 ? 'lifetime' : `${l.plan.duration_days} days`})`, inline: true },
      { name: 'Status', value: l.status, inline: true },
      { name: 'Owner', value: l.discord_user_id ? `<@${l.discord_user_id}>` : 'unclaimed', inline: true },
      { name: 'Activated', value: ts(l.activation_date), inline: true },
      { name: 'Expires', value: l.expires_at ? ts(l.expires_at) : l.plan.duration_days === 0 ? 'never' : 'at first use + duration', inline: true },
      { name: 'HWIDs', value: l.hwids.length ? l.hwids.map((h) => `\`${h.slice(0, 64)}\``).join('\n') : 'none', inline: false },
      { name: 'Last used', value: ts(l.last_used), inline: true },
      { name: 'Notes', value: l.notes?.slice(0, 1000) || '—', inline: false },
    )
    .toJSON();
}

export function plansEmbed(appName: string, plans: { id: number; name: string; duration_days: number; max_hwids: number | null; discord_role_id: string | null }[]) {
  return new EmbedBuilder()
    .setTitle(`${appName} — plans`)
    .setDescription(
      plans.length === 0
        ? 'No plans yet. Create one with the API (POST /api/plans).'
        : plans.map((p) => `**${p.name}** (#${p.id}) · ${p.duration_days === 0 ? 'lifetime' : `${p.duration_days} days`}${p.max_hwids ? ` · ${p.max_hwids} HWIDs` : ''}${p.discord_role_id ? ` · grants <@&${p.discord_role_id}>` : ''}`).join('\n'),
    )
    .toJSON();
}

export function statsEmbed(appName: string, s: { licenses: Record<string, number>; validations: { last_24h: number; last_7d: number; success_rate: number | null } }) {
  return new EmbedBuilder()
    .setTitle(`${appName} — statistics`)
    .addFields(
      { name: 'Licenses', value: `${s.licenses.total} total\n${s.licenses.active} active · ${s.licenses.inactive} unused\n${s.licenses.expired} expired · ${s.licenses.banned} banned` },
      { name: 'Validations', value: `${s.validations.last_24h} today · ${s.validations.last_7d} in 7 days\nSuccess rate: ${s.validations.success_rate === null ? '—' : `${(s.validations.success_rate * 100).toFixed(1)}%`}` },
    )
    .toJSON();
}

export function setupModal(sellerRoleId: string | null, logChannelId: string | null): APIModalInteractionResponseCallbackData {
  return new ModalBuilder()
    .setCustomId(encodeCustomId({ kind: 'setup-modal', sellerRoleId, logChannelId }))
    .setTitle('Link this server to Keycord')
    .addLabelComponents(
      new LabelBuilder().setLabel('Application ID').setTextInputComponent(new TextInputBuilder().setCustomId('app_id').setStyle(TextInputStyle.Short).setMinLength(36).setMaxLength(36).setRequired(true)),
      new LabelBuilder().setLabel('API key').setTextInputComponent(new TextInputBuilder().setCustomId('api_key').setStyle(TextInputStyle.Short).setMinLength(10).setMaxLength(200).setRequired(true)),
    )
    .toJSON();
}

export function redeemModal(): APIModalInteractionResponseCallbackData {
  return new ModalBuilder()
    .setCustomId(encodeCustomId({ kind: 'redeem-modal' }))
    .setTitle('Redeem a license key')
    .addLabelComponents(new LabelBuilder().setLabel('License key').setTextInputComponent(new TextInputBuilder().setCustomId('license_key').setStyle(TextInputStyle.Short).setMinLength(4).setMaxLength(200).setRequired(true)))
    .toJSON();
}

export function expiryNoticeText(type: 'license.expiring_soon' | 'license.expired', appName: string, license: { license_key: string; expires_at: string | null }) {
  const key = maskKey(license.license_key);
  return type === 'license.expired'
    ? `Your **${appName}** license \`${key}\` has expired.`
    : `Your **${appName}** license \`${key}\` expires ${license.expires_at ? `<t:${Math.floor(new Date(license.expires_at).getTime() / 1000)}:R>` : 'soon'}.`;
}
