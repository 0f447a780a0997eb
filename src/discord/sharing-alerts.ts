import { ButtonStyle, ComponentType, InteractionResponseType, type APIActionRowComponent, type APIComponentInMessageActionRow } from 'discord-api-types/v10';
import type { Deps } from '../core/deps.js';
import { expiryNoticeTargets } from '../core/discord/expiry-notice-targets.js';
import { resolveSharingFlag } from '../core/sharing/resolve-sharing-flag.js';
import type { outbox } from '../db/schema.js';
import { encodeCustomId, type CustomId, type SharingButton } from './custom-ids.js';
import type { DiscordApi } from './discord-api.js';
import type { HandlerResult, InteractionContext } from './interaction.js';
import { maskKey } from './render.js';
import { sellerSession } from './seller.js';

type OutboxRow = typeof outbox.$inferSelect;

/** What an alert says, from the event's payload or a flag's view. */
export interface SharingAlert {
  flagId: number;
  licenseKey: string;
  window: { kind: 'ips_24h' | 'hwid_mismatches_1h'; start: string; end: string };
  ips: number;
  hwidMismatches: number;
  action: 'alert' | 'ban';
}

interface SuspectedPayload {
  license?: { license_key?: unknown };
  window?: SharingAlert['window'];
  ips?: unknown;
  hwid_mismatches?: unknown;
  action?: unknown;
  flag_id?: unknown;
}

/** The event's payload as an alert; null for anything not shaped as the detection writes it. */
export function sharingAlertOf(payload: unknown): SharingAlert | null {
  const p = payload as SuspectedPayload;
  if (typeof p?.license?.license_key !== 'string' || typeof p.flag_id !== 'number' || typeof p.ips !== 'number' || typeof p.hwid_mismatches !== 'number' || !p.window) return null;
  return { flagId: p.flag_id, licenseKey: p.license.license_key, window: p.window, ips: p.ips, hwidMismatches: p.hwid_mismatches, action: p.action === 'ban' ? 'ban' : 'alert' };
}

const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
/** A member's name inside bold text: Discord markdown in it is shown, not applied. */
const plain = (name: string) => name.replace(/[\\*_`~|>]/g, '\\$&').slice(0, 100);

/** The alert's text: the application, the masked key (log channels are shared), the figures. Never a whole key. */
export function sharingAlertText(appName: string, a: SharingAlert): string {
  const why = a.window.kind === 'ips_24h' ? `too many IP addresses in the UTC day from <t:${unix(a.window.start)}:f>` : `too many HWID mismatches in the hour from <t:${unix(a.window.start)}:t>`;
  const lines = [
    `🚨 **Possible key sharing** on **${plain(appName)}**: license \`${maskKey(a.licenseKey)}\`, ${why}.`,
    `IPs that day: **${a.ips}** · HWID mismatches that hour: **${a.hwidMismatches}**`,
  ];
  if (a.action === 'ban') lines.push('⛔ Banned automatically (reason `sharing`).');
  return lines.join('\n');
}

const button = (flagId: number, action: SharingButton, label: string, style: ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Danger) =>
  ({ type: ComponentType.Button, style, label, custom_id: encodeCustomId({ kind: 'sharing', action, flagId }) }) as const;

/** Ban, Reset HWID, Ignore — for an alert still waiting on a seller (an automatic ban has none). */
export function sharingAlertButtons(a: SharingAlert): APIActionRowComponent<APIComponentInMessageActionRow>[] {
  if (a.action === 'ban') return [];
  return [
    {
      type: ComponentType.ActionRow,
      components: [button(a.flagId, 'ban', 'Ban', ButtonStyle.Danger), button(a.flagId, 'reset', 'Reset HWID', ButtonStyle.Primary), button(a.flagId, 'ignore', 'Ignore', ButtonStyle.Secondary)],
    },
  ];
}

/**
 * `license.sharing_suspected` reaches the log channel of each server linked to the application,
 * with its buttons. A channel Discord refuses is logged, never retried: the event's webhooks and
 * the other channels go on.
 */
export function sharingAlerter(deps: Deps, api: DiscordApi) {
  return async (event: OutboxRow): Promise<void> => {
    if (event.type !== 'license.sharing_suspected' || event.applicationId === null) return;
    const alert = sharingAlertOf(event.payload);
    if (!alert) return;
    const targets = await expiryNoticeTargets(deps.db, event.applicationId);
    if (!targets) return;
    const body = { content: sharingAlertText(targets.applicationName, alert), components: sharingAlertButtons(alert), allowed_mentions: { parse: [] } };
    for (const channel of targets.logChannelIds) {
      await api.postMessage(channel, body).catch((err: Error) => deps.log.warn({ err: err.message, channel }, 'could not post the sharing alert to the log channel'));
    }
  };
}

const DONE: Record<SharingButton, string> = { ban: '⛔ {who} banned the license.', reset: '♻️ {who} reset its HWID.', ignore: '🙈 {who} ignored this alert.' };

/**
 * A click on an alert's button: sellers only (the same check as seller commands; anyone else gets
 * the ephemeral refusal), and only for a flag of the server's own application. The alert message
 * is then updated in place to say who did what, without its buttons.
 */
export async function answerSharingButton(ctx: InteractionContext, id: Extract<CustomId, { kind: 'sharing' }>): Promise<HandlerResult> {
  const { link, actor } = await sellerSession(ctx);
  const flag = await resolveSharingFlag(ctx.bot.deps, actor, id.flagId, id.action);
  const alert: SharingAlert = { flagId: flag.id, licenseKey: flag.license_key, window: flag.window, ips: flag.ips, hwidMismatches: flag.hwid_mismatches, action: flag.action };
  return {
    response: {
      type: InteractionResponseType.UpdateMessage,
      data: { content: `${sharingAlertText(link.app.name, alert)}\n${DONE[id.action].replace('{who}', `**${plain(ctx.user.name)}**`)}`, components: [], allowed_mentions: { parse: [] } },
    },
  };
}
