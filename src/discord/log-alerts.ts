import type { Deps } from '../core/deps.js';
import { expiryNoticeTargets } from '../core/discord/expiry-notice-targets.js';
import type { FinishedJobView } from '../core/jobs/job-finished.js';
import type { outbox } from '../db/schema.js';
import type { DiscordApi } from './discord-api.js';

type OutboxRow = typeof outbox.$inferSelect;

const n = (x: number) => x.toLocaleString('en-US');
/** Seller-chosen text (a plan name, an error) inline: Discord markdown in it is shown, not applied; one line, bounded. */
const plain = (text: string, max: number) => {
  const line = text.replace(/\s+/g, ' ').trim();
  return (line.length > max ? `${line.slice(0, max - 1)}…` : line).replace(/[\\*_`~|>]/g, '\\$&');
};

/** The job of a `job.finished` payload; null for anything not shaped as `emitJobFinished` writes it. */
export function finishedJobOf(payload: unknown): FinishedJobView | null {
  const j = (payload as { job?: Partial<FinishedJobView> } | null)?.job;
  if (!j || typeof j.id !== 'number' || typeof j.count !== 'number' || typeof j.generated !== 'number' || (j.status !== 'completed' && j.status !== 'failed')) return null;
  if (j.type !== 'generate_licenses' && j.type !== 'bulk_licenses') return null;
  return {
    id: j.id,
    type: j.type,
    status: j.status,
    count: j.count,
    generated: j.generated,
    error: typeof j.error === 'string' ? j.error : null,
    action: j.action === 'ban' || j.action === 'delete' ? j.action : null,
    plan: j.plan && typeof j.plan.name === 'string' && typeof j.plan.id === 'number' ? { id: j.plan.id, name: j.plan.name } : null,
  };
}

/** "✅ Job #12: 5,000 keys generated for plan Monthly", "✅ Job #13: 1,200 licenses banned", "⛔ Job #12 failed: …". */
export function jobFinishedText(job: FinishedJobView): string {
  if (job.status === 'failed') return `⛔ Job #${job.id} failed: ${plain(job.error ?? 'unknown error', 300)}`;
  if (job.type === 'bulk_licenses') {
    return `✅ Job #${job.id}: ${n(job.generated)} ${job.generated === 1 ? 'license' : 'licenses'} ${job.action === 'delete' ? 'deleted' : 'banned'}`;
  }
  const plan = job.plan ? ` for plan ${plain(job.plan.name, 100)}` : '';
  return `✅ Job #${job.id}: ${n(job.generated)} ${job.generated === 1 ? 'key' : 'keys'} generated${plan}`;
}

/** What a `webhook.failing` payload says (its URL as stored; shown shortened). */
export interface WebhookFailing {
  webhookId: number;
  url: string;
  eventType: string;
  attempts: number;
  lastStatusCode: number | null;
}

export function webhookFailingOf(payload: unknown): WebhookFailing | null {
  const p = payload as { webhook?: { id?: unknown; url?: unknown }; delivery?: { event_type?: unknown }; attempts?: unknown; last_status_code?: unknown } | null;
  if (typeof p?.webhook?.id !== 'number' || typeof p.webhook.url !== 'string' || typeof p.delivery?.event_type !== 'string' || typeof p.attempts !== 'number') return null;
  return {
    webhookId: p.webhook.id,
    url: p.webhook.url,
    eventType: p.delivery.event_type,
    attempts: p.attempts,
    lastStatusCode: typeof p.last_status_code === 'number' ? p.last_status_code : null,
  };
}

const SHOWN_PATH_MAX = 60;

/**
 * A path segment that looks like a credential: 12 or more characters mixing letters and digits.
 * Receivers that take any JSON (automation catch hooks, chat incoming webhooks) put their secret
 * in the path — `hook.eu1.make.com/<token>`, `/services/T…/B…/<token>`, `/api/webhooks/<id>/<token>`,
 * `/webhook/<uuid>` — and whoever reads the URL can post to it.
 */
const TOKEN_LIKE = /^(?=.*[a-z])(?=.*\d).{12,}$/i;

/**
 * A webhook URL as a log channel may see it: origin and path only — a query string or fragment
 * may hold a token, and so may a path segment (TOKEN_LIKE), shown as `…` — and a long path cut
 * short. Anything unparsable is not shown.
 */
export function shortWebhookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'an invalid URL';
  }
  const pathname = u.pathname
    .split('/')
    .map((segment) => (TOKEN_LIKE.test(segment) ? '…' : segment))
    .join('/');
  const path = pathname.length > SHOWN_PATH_MAX ? `${pathname.slice(0, SHOWN_PATH_MAX - 1)}…` : pathname;
  return `${u.origin}${path}`;
}

/** "⚠️ Webhook #3 (<https://host/path>) is failing: delivery of license.banned gave up after 19 attempts (last HTTP 500). Check /webhook deliveries." */
export function webhookFailingText(w: WebhookFailing): string {
  const last = w.lastStatusCode === null ? 'no HTTP answer' : `last HTTP ${w.lastStatusCode}`;
  // In angle brackets: Discord shows the link without fetching a preview of the seller's receiver.
  return `⚠️ Webhook #${w.webhookId} (<${shortWebhookUrl(w.url)}>) is failing: delivery of ${plain(w.eventType, 64)} gave up after ${n(w.attempts)} ${w.attempts === 1 ? 'attempt' : 'attempts'} (${last}). Check /webhook deliveries.`;
}

/** The log-channel text of an internal event; null for any other event, or a payload not shaped as written. */
export function logAlertText(event: Pick<OutboxRow, 'type' | 'payload'>): string | null {
  if (event.type === 'job.finished') {
    const job = finishedJobOf(event.payload);
    return job ? jobFinishedText(job) : null;
  }
  if (event.type === 'webhook.failing') {
    const failing = webhookFailingOf(event.payload);
    return failing ? webhookFailingText(failing) : null;
  }
  return null;
}

/**
 * `job.finished` and `webhook.failing` (internal events: no webhook receives them) reach the log
 * channel of each server linked to the application. A channel Discord refuses is logged, never
 * retried, like the other notices.
 */
export function logAlerter(deps: Deps, api: DiscordApi) {
  return async (event: OutboxRow): Promise<void> => {
    if ((event.type !== 'job.finished' && event.type !== 'webhook.failing') || event.applicationId === null) return;
    const content = logAlertText(event);
    if (!content) return;
    const targets = await expiryNoticeTargets(deps.db, event.applicationId);
    if (!targets) return;
    for (const channel of targets.logChannelIds) {
      await api
        .postMessage(channel, { content, allowed_mentions: { parse: [] } })
        .catch((err: Error) => deps.log.warn({ err: err.message, channel, event: event.type }, 'could not post the alert to the log channel'));
    }
  };
}
