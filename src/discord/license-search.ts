import type { LicenseView } from '../core/licenses/license-view.js';
import { ellipsize } from './message-limits.js';

/** Licenses one /license search page shows. */
export const SEARCH_PAGE = 10;
/** Each listed line is cut to this; with the header the message stays under Discord's 2,000 characters. */
export const SEARCH_LINE_MAX = 170;
const HEADER_MAX = 200;
const KEY_SHOWN_MAX = 100;

const STATUS_ICON: Record<string, string> = { active: '🟢', inactive: '⚪', expired: '⌛', banned: '⛔' };

/** Backticks in a key would end its code span (keys are seller-made with a prefix). */
const code = (text: string) => `\`${text.replace(/`/g, 'ˋ')}\``;
const unix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);

/** One license as a line: key, status, plan, end, owner. */
export function searchLine(l: LicenseView): string {
  const end = l.expires_at ? `ends <t:${unix(l.expires_at)}:d>` : l.plan.duration_days === 0 ? 'lifetime' : 'not started';
  const owner = l.discord_user_id ? ` · <@${l.discord_user_id}>` : '';
  return ellipsize(`${STATUS_ICON[l.status] ?? ''} ${code(ellipsize(l.license_key, KEY_SHOWN_MAX))} · ${l.status} · ${ellipsize(l.plan.name, 40)} · ${end}${owner}`, SEARCH_LINE_MAX);
}

/**
 * A page of /license search, always within one message (header ≤ 200, ≤ 10 lines of ≤ 170):
 * keys are shown, so the reply is ephemeral.
 */
export function searchMessage(result: { total: number; items: LicenseView[] }, page: number, filter: string): string {
  if (result.total === 0) return `No license matches (${ellipsize(filter, 150)}).`;
  const pages = Math.max(1, Math.ceil(result.total / SEARCH_PAGE));
  const header = ellipsize(`**${result.total.toLocaleString('en-US')} license${result.total === 1 ? '' : 's'}** (${filter}) · page ${Math.min(page, pages)} of ${pages}`, HEADER_MAX);
  if (result.items.length === 0) return `${header}\nNo licenses on this page; try a lower page.`;
  return [header, ...result.items.slice(0, SEARCH_PAGE).map(searchLine)].join('\n');
}
