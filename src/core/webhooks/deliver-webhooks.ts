import { and, eq, isNull } from 'drizzle-orm';
import { outbox } from '../../db/schema.js';
import type { Deps } from '../deps.js';
import { isInternalEvent } from '../events/emit-event.js';
import { fanOut, readEvent, recordDispatchOutcome, type FannedOutDelivery, type OutboxRow } from './delivery-statements.js';
import { postWebhook, type PostResult } from './post-webhook.js';
import { signWebhook } from './webhook-signature.js';

export type { FannedOutDelivery } from './delivery-statements.js';

const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * How long a fan-out holds the deliveries it returns for their first attempt: another dispatch of
 * the event finds them held, and the reconciler leaves them be, until then (or until the attempt
 * is recorded). Long enough for a POST that waited its turn and the listeners after it; what it
 * costs is how late a dispatch that crashed after its fan-out is made up for.
 */
export const FIRST_ATTEMPT_HOLD_MS = 120_000;
/**
 * A first attempt starts only while this much of its hold is left, so that its POST ends (and,
 * normally, its record lands) before anyone else may take the delivery; one whose turn comes later
 * (POSTs wait on the webhook concurrency) goes to the delivery schedule instead.
 */
const HOLD_LEFT_TO_START_MS = 60_000;

/** The delivery body of API.md: `{id, type, created_at, application_id, data}`. */
const eventBody = (e: OutboxRow) => JSON.stringify({ id: `evt_${e.id}`, type: e.type, created_at: e.createdAt.toISOString(), application_id: e.applicationId, data: e.payload });

export interface FanOutResult {
  event: OutboxRow | null;
  body: string;
  deliveries: number[];
  /** The pending deliveries this dispatch holds for their first attempt (none that another dispatch holds). */
  pending: FannedOutDelivery[];
  /** When the hold on `pending` ends. */
  holdUntil: Date;
}

/**
 * Creates one delivery per subscribed, active webhook of the event's application (or the one
 * webhook a `webhook.test` names). Safe to run again for the same event (a retried job, or a second
 * dispatch at the same time): the unique (webhook, event) pair keeps it to one delivery each, and
 * every pending delivery no other dispatch holds is returned for sending, held for this one, with
 * what sending it takes. Two statements: read the event (unless the caller has it), then fan out —
 * each shared with the other dispatches in flight (delivery-statements.ts).
 */
export async function fanOutEvent(deps: Deps, eventId: number, known?: OutboxRow): Promise<FanOutResult> {
  const at = deps.clock.now();
  const holdUntil = new Date(at.getTime() + FIRST_ATTEMPT_HOLD_MS);
  // A caller that has just read the row (the local provider's pass) saves this statement.
  const event = known && known.id === eventId ? known : await readEvent(deps.db, eventId);
  // Internal events (job.finished, webhook.failing) are for the listeners only: no statement, no delivery.
  if (!event || event.kind !== 'event' || event.applicationId === null || isInternalEvent(event.type)) return { event, body: '', deliveries: [], pending: [], holdUntil };
  const body = eventBody(event);
  const pending = await fanOut(deps.db, {
    eventId: event.id,
    applicationId: event.applicationId,
    type: event.type,
    body,
    onlyWebhookId: event.type === 'webhook.test' ? Number(event.payload.webhook_id) : null,
    at,
    holdUntil,
  });
  return { event, body, deliveries: pending.map((d) => d.id), pending, holdUntil };
}

/** Whether a first attempt held until `holdUntil` may still start (HOLD_LEFT_TO_START_MS). */
export const firstAttemptMayStart = (deps: Deps, holdUntil: Date) => holdUntil.getTime() - deps.clock.now().getTime() >= HOLD_LEFT_TO_START_MS;

/** Opened secrets are kept this long, for this many webhooks at most. */
const SECRET_TTL_MS = 60_000;
const MAX_OPENED_SECRETS = 1000;
const openedByBox = new WeakMap<Deps['box'], Map<string, { secret: string; until: number }>>();

/**
 * A webhook's signing secret, opened (AES-GCM) once a minute rather than once per delivery. Keyed by
 * the sealed form itself, so a rotated secret (a new sealed value) is never served from here; the
 * oldest entry goes past the bound.
 */
function openedSecret(deps: Deps, sealed: string): string {
  let openedSecrets = openedByBox.get(deps.box);
  if (!openedSecrets) openedByBox.set(deps.box, (openedSecrets = new Map()));
  const now = Date.now();
  const held = openedSecrets.get(sealed);
  if (held && held.until > now) return held.secret;
  const secret = deps.box.open(sealed).toString('utf8');
  openedSecrets.delete(sealed);
  openedSecrets.set(sealed, { secret, until: now + SECRET_TTL_MS });
  if (openedSecrets.size > MAX_OPENED_SECRETS) openedSecrets.delete(openedSecrets.keys().next().value!);
  return secret;
}

/** One POST of one delivery and what came of it, not yet recorded. */
export interface SentAttempt {
  deliveryId: number;
  result: PostResult;
  delivered: boolean;
}

/**
 * Sends one delivery without touching the database. The same `X-Keycord-Delivery` id goes with
 * every attempt, and the signature is made fresh (its timestamp is the attempt's).
 */
export async function sendDelivery(deps: Deps, d: { id: number; eventType: string; body: string; url: string; secretEnc: string }): Promise<SentAttempt> {
  const secret = openedSecret(deps, d.secretEnc);
  const t = Math.floor(Date.now() / 1000);
  const result = await postWebhook(
    d.url,
    d.body,
    {
      'X-Keycord-Event': d.eventType,
      'X-Keycord-Delivery': String(d.id),
      'X-Keycord-Signature': signWebhook(secret, d.body, t),
    },
    { timeoutMs: WEBHOOK_TIMEOUT_MS, allowPrivate: deps.webhooks.allowPrivateUrls },
  );
  const delivered = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
  return { deliveryId: d.id, result, delivered };
}

/**
 * Records attempts (each one's log row and its delivery's new state, all or none), marks
 * `dispatchedEventId` dispatched when given, and lets go of the holds in `letGo`: one statement,
 * shared with the dispatches in flight.
 */
export async function recordAttempts(deps: Deps, sent: SentAttempt[], opts: { dispatchedEventId?: number; letGo?: { deliveryIds: number[]; holdUntil: Date } } = {}): Promise<void> {
  if (sent.length === 0 && opts.dispatchedEventId === undefined && !opts.letGo?.deliveryIds.length) return;
  const at = deps.clock.now();
  await recordDispatchOutcome(deps.db, {
    attempts: sent.map((s) => ({
      deliveryId: s.deliveryId,
      statusCode: s.result.statusCode,
      durationMs: s.result.durationMs,
      responseBody: s.result.body,
      error: s.result.error,
      delivered: s.delivered,
      at,
    })),
    ...(opts.dispatchedEventId !== undefined ? { dispatched: { eventId: opts.dispatchedEventId, at } } : {}),
    ...(opts.letGo?.deliveryIds.length ? { letGo: opts.letGo } : {}),
  });
}

/**
 * `busy`: its receiver had no turn for it (a slow origin's share in use); no attempt was made.
 * `held`: another attempt holds the delivery (ATTEMPT_HOLD_MS); no attempt was made, and what
 * comes next is that attempt's to schedule (it records what it made), not this caller's.
 */
export type AttemptOutcome = 'delivered' | 'retry' | 'dropped' | 'busy' | 'held';

/**
 * How long an attempt (a retry, a redelivery) holds its delivery: its turn at the receiver (4 s at
 * most) and its POST (WEBHOOK_TIMEOUT_MS), with room to spare. The recorded attempt lets go of it.
 */
export const ATTEMPT_HOLD_MS = 60_000;

// With the webhook's application's owner (a primary-key probe, no round trip of its own): the
// tenant its POST takes a turn as, so a seller's receivers share one bound across its applications.
// The same statement takes the delivery's hold (`sending_until`, as a fan-out does for a first
// attempt), so no two attempts of one delivery are out at once: not a first attempt and a retry,
// nor a retry of a process that lost the local runner lock and one of the process that took over.
// Of two at once, the second's update waits on the row lock, re-reads `sending_until`, and takes nothing.
const DELIVERY_TO_SEND = `with target as (
  select d.id, d.status, d.event_type, d.body, w.url, w.secret_enc, w.active, a.owner_id
  from webhook_deliveries d join webhooks w on w.id = d.webhook_id join applications a on a.id = w.application_id
  where d.id = $1::bigint
), held as (
  update webhook_deliveries d set sending_until = $3::timestamptz
  from target t
  where d.id = t.id and d.status = 'pending' and (t.active or t.event_type = 'webhook.test')
    and (d.sending_until is null or d.sending_until <= $2::timestamptz)
  returning d.id
)
select t.status, t.event_type, t.body, t.url, t.secret_enc, t.active, t.owner_id, exists (select 1 from held) as held from target t`;

/** Lets go of an attempt's hold that made no POST (its receiver had no turn for it). */
const LET_GO = `update webhook_deliveries set sending_until = null where id = $1::bigint and sending_until = $2::timestamptz`;

/**
 * One attempt at one delivery (a retry, a redelivery), recorded whatever happens: read and hold it
 * with its webhook, send, record — two statements. `turn`, when given, is asked for a turn at the
 * receiver (as a POST of the application's owner) before the POST, and told when it is over;
 * without one the attempt is not made: `busy`, nothing recorded (its hold let go: one statement
 * more). `held` when another attempt holds the delivery; `dropped` when it is not pending.
 */
export async function attemptDelivery(deps: Deps, deliveryId: number, opts: { turn?: ((url: string, tenant: number) => Promise<(() => void) | null>) | undefined } = {}): Promise<AttemptOutcome> {
  const now = deps.clock.now();
  const holdUntil = new Date(now.getTime() + ATTEMPT_HOLD_MS).toISOString();
  const [row] = await deps.db.query<{ status: string; event_type: string; body: string; url: string; secret_enc: string; active: boolean; owner_id: number; held: boolean }>(DELIVERY_TO_SEND, [
    deliveryId,
    now.toISOString(),
    holdUntil,
  ]);
  if (!row) return 'dropped';
  if (row.status === 'delivered') return 'delivered';
  // Given up on (a job left over from before): only a redelivery makes it pending again.
  if (row.status !== 'pending') return 'dropped';
  if (!row.active && row.event_type !== 'webhook.test') {
    // Paused by its seller, not failing: no alert.
    await markFailed(deps, deliveryId, { alert: false });
    return 'dropped';
  }
  if (!row.held) return 'held';
  const endTurn = opts.turn ? await opts.turn(row.url, row.owner_id) : undefined;
  if (endTurn === null) {
    await deps.db.query(LET_GO, [deliveryId, holdUntil]);
    return 'busy';
  }
  let sent: SentAttempt;
  try {
    sent = await sendDelivery(deps, { id: deliveryId, eventType: row.event_type, body: row.body, url: row.url, secretEnc: row.secret_enc });
  } finally {
    endTurn?.();
  }
  await recordAttempts(deps, [sent]);
  return sent.delivered ? 'delivered' : 'retry';
}

/** A webhook's log-channel alerts: at most one per this interval, however many of its deliveries fail. */
const WEBHOOK_FAILING_ALERT_EVERY = '1 hour';

// The delivery is marked failed and, unless one was raised within the hour (or the webhook is
// paused), an internal `webhook.failing` event is written — one statement. The hour is kept on the
// webhook row, so concurrent give-ups of one webhook raise one alert: the second update waits on
// the row lock, then re-reads `failing_alerted_at` and matches nothing.
const MARK_FAILED = `with failed as (
  update webhook_deliveries set status = 'failed'
  where id = $1::bigint and status = 'pending'
  returning id, webhook_id, event_type, attempts, last_status_code
), alerted as (
  update webhooks w set failing_alerted_at = $2::timestamptz
  from failed f
  where $3::boolean and w.id = f.webhook_id and w.active
    and (w.failing_alerted_at is null or w.failing_alerted_at <= $2::timestamptz - interval '${WEBHOOK_FAILING_ALERT_EVERY}')
  returning w.id, w.url, w.application_id
)
insert into outbox (application_id, kind, type, payload)
select a.application_id, 'event', 'webhook.failing', jsonb_build_object(
  'webhook', jsonb_build_object('id', a.id, 'url', a.url),
  'delivery', jsonb_build_object('id', f.id, 'event_type', f.event_type),
  'attempts', f.attempts,
  'last_status_code', f.last_status_code)
from alerted a join failed f on f.webhook_id = a.id`;

/**
 * After the last retry (about a day of them), the delivery is marked failed, and the log channels
 * are told (`webhook.failing`, never with the secret) at most once an hour per webhook. `alert:
 * false` for a delivery dropped because its webhook was paused.
 */
export async function markFailed(deps: Deps, deliveryId: number, opts: { alert?: boolean } = {}) {
  await deps.db.query(MARK_FAILED, [deliveryId, deps.clock.now().toISOString(), opts.alert ?? true]);
}

/**
 * Records that an event's fan-out is over (done, or given up after its last attempt), so the
 * reconciler stops looking for its job.
 */
export async function markDispatched(deps: Deps, eventId: number) {
  await deps.db.orm
    .update(outbox)
    .set({ dispatchedAt: deps.clock.now() })
    .where(and(eq(outbox.id, eventId), isNull(outbox.dispatchedAt)));
}
