import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../core/crypto.js';
import { perObject } from '../core/turn-batch.js';
import type { ChartDay } from './stats-chart.js';

/**
 * A /stats chart by link instead of by upload. Where Keycord is reachable from the internet
 * (`PUBLIC_URL`, as it must be for HTTP interactions), the first answer carries the chart as an
 * embed image at `<PUBLIC_URL>/discord/charts/stats.png?c=<token>`, and Discord's media proxy fetches it
 * once per distinct chart: no follow-up edit, no upload of a PNG per reply.
 *
 * The token carries the figures themselves (a day's three counts for at most 31 days), so any API
 * process can draw it, nothing is stored, and a link outlives a restart. It is signed (HMAC-SHA256,
 * a key derived from KEYCORD_SECRET), so only Keycord makes links: nobody can have it draw charts
 * of their choosing, nor read another tenant's figures except through a link a seller was shown.
 * The link is the capability: it shows that application's 30-day figures to whoever holds it.
 */

const MAX_DAYS = 31;
/** Counts above this are refused when read back (a token is only ever made from real counts). */
const MAX_COUNT = 1e12;
/** Token characters at most: Discord takes embed image URLs up to 2,048 characters. */
export const MAX_TOKEN_LENGTH = 1500;
const TAG_BYTES = 16;

const keyOf = perObject((box: SecretBox) => box.derive('discord-charts', 'stats-chart-link-v1'));

const tag = (box: SecretBox, body: string) => createHmac('sha256', keyOf(box)).update(body).digest().subarray(0, TAG_BYTES);

/** `<figures>.<tag>`: the first date (YYYYMMDD) and each day's counts in base 36, then the HMAC. */
export function chartToken(box: SecretBox, days: readonly ChartDay[]): string {
  const first = days[0]?.date.replaceAll('-', '') ?? '';
  const counts = days.map((d) => [d.validations, d.activations, d.generated].map((n) => n.toString(36)).join('-')).join('_');
  const body = `${first}~${counts}`;
  return `${body}.${tag(box, body).toString('base64url')}`;
}

const TOKEN = /^(\d{8})~([0-9a-z_-]*)\.([A-Za-z0-9_-]{22})$/;

/** The figures of a token Keycord made; null for anything else (wrong tag, malformed, out of bounds). */
export function daysFromToken(box: SecretBox, token: string): ChartDay[] | null {
  if (token.length > MAX_TOKEN_LENGTH) return null;
  const match = TOKEN.exec(token);
  if (!match) return null;
  const [, first, counts, given] = match as unknown as [string, string, string, string];
  const body = `${first}~${counts}`;
  const expected = tag(box, body);
  const presented = Buffer.from(given, 'base64url');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
  const start = Date.parse(`${first.slice(0, 4)}-${first.slice(4, 6)}-${first.slice(6, 8)}T00:00:00Z`);
  if (Number.isNaN(start)) return null;
  const entries = counts === '' ? [] : counts.split('_');
  if (entries.length > MAX_DAYS) return null;
  const days: ChartDay[] = [];
  for (const [i, entry] of entries.entries()) {
    const numbers = entry.split('-').map((n) => Number.parseInt(n, 36));
    if (numbers.length !== 3 || numbers.some((n) => !Number.isSafeInteger(n) || n < 0 || n > MAX_COUNT)) return null;
    const [validations, activations, generated] = numbers as [number, number, number];
    days.push({ date: new Date(start + i * 86_400_000).toISOString().slice(0, 10), validations, activations, generated });
  }
  return days;
}

/**
 * Links already made, by the figures they carry. /stats reuses one application's figures (the
 * same array) for seconds at a time (read-guild-statistics.ts), and signing them again for every
 * command was a tenth of a /stats' own CPU. Keyed weakly on the array, so a link goes when its
 * figures do; the box and URL are kept with it, so another instance's figures are signed anew.
 */
const linked = new WeakMap<readonly ChartDay[], { box: SecretBox; publicUrl: string; url: string | null }>();

/** The chart's address, or null when Keycord has no public URL (the chart is then uploaded). */
export function chartUrl(publicUrl: string | undefined, box: SecretBox, days: readonly ChartDay[]): string | null {
  if (!publicUrl) return null;
  const hit = linked.get(days);
  if (hit && hit.box === box && hit.publicUrl === publicUrl) return hit.url;
  const token = chartToken(box, days);
  const url = token.length > MAX_TOKEN_LENGTH ? null : `${publicUrl}/discord/charts/stats.png?c=${token}`;
  linked.set(days, { box, publicUrl, url });
  return url;
}
