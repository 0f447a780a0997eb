import type { Db } from '../../db/client.js';
import { outbox } from '../../db/schema.js';
import { perObject } from '../turn-batch.js';
import { Coalescer } from './coalesce.js';
import { toDate, toDateOrNull } from '../../db/timestamps.js';

/**
 * The statements of event dispatch, each shared by the dispatches in flight at once (Coalescer):
 * read the events, fan them out, record their attempts with their dispatch marks. Every row is
 * keyed by its event (or delivery), so each caller gets back exactly what it alone would have.
 */

export type OutboxRow = typeof outbox.$inferSelect;

export const readEvent = (db: Db, eventId: number): Promise<OutboxRow | null> => eventReader(db).call(eventId);

// Raw and prepared: drizzle's query building was a visible share of a dispatch's CPU.
export const OUTBOX_COLUMNS = 'id, application_id, kind, type, payload, created_at, relayed_at, dispatched_at';
const READ_EVENTS = `select ${OUTBOX_COLUMNS} from outbox
  where id in (select jsonb_array_elements_text($1::jsonb)::bigint)`;

/** An outbox row as a raw statement selecting OUTBOX_COLUMNS returns it (postgres.js or PGlite). */
export type RawOutboxRow = {
  id: number | string;
  application_id: number | null;
  kind: 'event' | 'command';
  type: string;
  payload: Record<string, unknown> | string;
  created_at: Date | string;
  relayed_at: Date | string | null;
  dispatched_at: Date | string | null;
};

export const outboxRowFrom = (r: RawOutboxRow): OutboxRow => ({
  id: Number(r.id),
  applicationId: r.application_id,
  kind: r.kind,
  type: r.type,
  payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as Record<string, unknown>) : r.payload,
  createdAt: toDate(r.created_at),
  relayedAt: toDateOrNull(r.relayed_at),
  dispatchedAt: toDateOrNull(r.dispatched_at),
});

const eventReader = perObject(
  (db: Db) =>
    new Coalescer<number, OutboxRow | null>(async (ids) => {
      const rows = await db.query<RawOutboxRow>(READ_EVENTS, [JSON.stringify([...new Set(ids)])]);
      const byId = new Map(rows.map((r) => [Number(r.id), outboxRowFrom(r)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
);

// Each event's application's webhooks: subscribed, active ones (or the one a `webhook.test` names)
// get a delivery; the event's deliveries still pending (a retried dispatch) come back with the new
// ones, each with what sending it takes (URL, secret, state, attempts so far). Every delivery
// returned is held for its first attempt until `until` (sending_until, cleared when an attempt is
// recorded): a new one from its insert, one already there only if no other dispatch holds it, taken
// by the update. Two dispatches of one event may overlap (a batch relayed again with other rows), and
// only one may POST: the `free` read is this statement's snapshot, but the update locks each row and
// re-checks the hold on its latest version, so of two fan-outs at once the second finds it held (or
// already delivered, or with its attempt counted) and does not take it. Rows inserted by a fan-out in
// flight are not in the other's snapshot at all, and its insert waits on them and skips them.
// Existing rows are found through the (webhook_id, event_id) unique index, one probe per target,
// their state checked after the probe (`offset 0` keeps it a probe: flattened, or with the status
// test inside, Postgres could take the partial pending index and filter every pending delivery for
// each target, as it did on a small table; a receiver down for a day makes that many). They are
// updated by primary key (`= any(array(…))`, as RECORD_ATTEMPTS does). The answer joins `webhooks`
// by key, not `targets` by (webhook, event): that join ran as a nested loop over both CTEs,
// quadratic in the batch (1,000 events: 165 ms, against 14 ms now). The application's owner comes
// with each (a primary-key probe in the same statement): the tenant its POSTs take turns as.
const FAN_OUT = `with ev as (
  select * from jsonb_to_recordset($1::jsonb)
    as e(event_id bigint, application_id int, type text, body text, only_hook int, at timestamptz, until timestamptz)
), targets as (
  select w.id as webhook_id, w.active, w.events, w.url, w.secret_enc, ev.event_id, ev.type, ev.body, ev.only_hook, ev.at, ev.until
  from ev join webhooks w on w.application_id = ev.application_id
), inserted as (
  insert into webhook_deliveries (webhook_id, event_id, event_type, body, sending_until)
  select webhook_id, event_id, type, body, until from targets
  where case when only_hook is not null then webhook_id = only_hook else active and type = any(events) end
  on conflict do nothing
  returning id, webhook_id, event_id, attempts
), free as (
  select d.id from targets t
  cross join lateral (
    select d.id, d.status, d.sending_until from webhook_deliveries d
    where d.webhook_id = t.webhook_id and d.event_id = t.event_id
    offset 0
  ) d
  where d.status = 'pending' and (d.sending_until is null or d.sending_until <= t.at)
), taken as (
  update webhook_deliveries d set sending_until = ev.until
  from ev
  where d.id = any(array(select id from free)) and ev.event_id = d.event_id
    and d.status = 'pending' and (d.sending_until is null or d.sending_until <= ev.at)
  returning d.id, d.webhook_id, d.event_id, d.attempts
), due as (
  select id, webhook_id, event_id, attempts from inserted
  union all
  select id, webhook_id, event_id, attempts from taken
)
select due.id, due.event_id, due.attempts, w.url, w.secret_enc, w.active, a.owner_id
from due join webhooks w on w.id = due.webhook_id join applications a on a.id = w.application_id
order by due.id`;

export interface FanOutInput {
  eventId: number;
  applicationId: number;
  type: string;
  body: string;
  /** The one webhook a `webhook.test` goes to. */
  onlyWebhookId: number | null;
  /** Now, by the dispatch's clock: a hold that ended by then is free. */
  at: Date;
  /** The end of the hold on the deliveries returned. */
  holdUntil: Date;
}

/** A pending delivery of a fanned-out event, held for its caller, with what sending it takes. */
export interface FannedOutDelivery {
  id: number;
  /** Attempts recorded so far (non-zero when a retried fan-out finds it). */
  attempts: number;
  url: string;
  secretEnc: string;
  hookActive: boolean;
  /** The owner of the webhook's application: the seller whose receivers share a bound (receiver-turns.ts). */
  ownerId: number;
}

export const fanOut = (db: Db, input: FanOutInput): Promise<FannedOutDelivery[]> => fanOutRunner(db).call(input);

const fanOutRunner = perObject(
  (db: Db) =>
    new Coalescer<FanOutInput, FannedOutDelivery[]>(async (inputs) => {
      // Two dispatches of one event in the same run: the first gets its deliveries, the other none,
      // as if it had come second.
      const firstOf = new Map<number, FanOutInput>();
      for (const i of inputs) if (!firstOf.has(i.eventId)) firstOf.set(i.eventId, i);
      const records = [...firstOf.values()].map((i) => ({
        event_id: i.eventId,
        application_id: i.applicationId,
        type: i.type,
        body: i.body,
        only_hook: i.onlyWebhookId,
        at: i.at.toISOString(),
        until: i.holdUntil.toISOString(),
      }));
      const rows = await db.query<{ id: number | string; event_id: number | string; attempts: number; url: string; secret_enc: string; active: boolean; owner_id: number }>(FAN_OUT, [
        JSON.stringify(records),
      ]);
      const byEvent = new Map<number, FannedOutDelivery[]>();
      for (const r of rows) {
        const list = byEvent.get(Number(r.event_id)) ?? [];
        list.push({ id: Number(r.id), attempts: Number(r.attempts), url: r.url, secretEnc: r.secret_enc, hookActive: r.active, ownerId: r.owner_id });
        byEvent.set(Number(r.event_id), list);
      }
      return inputs.map((i) => (firstOf.get(i.eventId) === i ? (byEvent.get(i.eventId) ?? []) : []));
    }),
);

/**
 * The attempts a delivery's log keeps: its latest ones, the older dropped as new ones are recorded
 * (`attempts` on the delivery still counts them all). A seller may redeliver a delivery that is
 * over again and again, each time adding an attempt (or a schedule of them), so without a bound its
 * log would grow at the seller's will. At least WEBHOOK_ATTEMPTS, so a schedule's attempts — which
 * the local provider counts from this log — are all kept.
 */
export const MAX_ATTEMPTS_KEPT = 50;

// Each attempt's log row and its delivery's new state (its hold let go: FAN_OUT) in one statement,
// so all or none land; and the dispatch marks of the events whose fan-out is over, in the same
// round trip. The rows to update are looked up by primary key (`= any(array(…))`), whatever the
// planner guesses of the JSON's row count: joined by hash, it read the whole table while it was
// small (bench:webhooks). The statement carries the attempts of every dispatch in flight, other
// tenants' too, so no one attempt may fail it: a delivery deleted with its webhook (or its
// application) while its POST was out has nothing to log an attempt against. So an attempt is
// logged only for a delivery the update found (and holds locked: a delete committing meanwhile
// waits), never against a row that is gone, which would fail the foreign key and the whole batch.
// A delivery past MAX_ATTEMPTS_KEPT attempts loses its oldest log rows in the same statement: the
// insert is not in the statement's snapshot, so the latest MAX_ATTEMPTS_KEPT - 1 there are kept
// beside it; the delete looks only at those deliveries (rare: redelivered many times).
const RECORD_ATTEMPTS = `with sent as (
  select * from jsonb_to_recordset($1::jsonb)
    as s(delivery_id bigint, status_code int, duration_ms int, response_body text, error text, delivered boolean, at timestamptz)
), marks as (
  select * from jsonb_to_recordset($2::jsonb) as m(event_id bigint, at timestamptz)
), updated as (
  update webhook_deliveries d set
    attempts = d.attempts + 1,
    last_status_code = s.status_code,
    sending_until = null,
    status = case when s.delivered then 'delivered' else d.status end,
    delivered_at = case when s.delivered then s.at else d.delivered_at end
  from sent s where d.id = s.delivery_id and d.id = any(array(select delivery_id from sent))
  returning d.id, d.attempts
), logged as (
  insert into webhook_attempts (delivery_id, status_code, duration_ms, response_body, error)
  select delivery_id, status_code, duration_ms, response_body, error from sent where delivery_id in (select id from updated)
), trimmed as (
  delete from webhook_attempts a
  where a.delivery_id = any(array(select id from updated where attempts > ${MAX_ATTEMPTS_KEPT}))
    and a.id < (select min(k.id) from (
      select b.id from webhook_attempts b where b.delivery_id = a.delivery_id order by b.id desc limit ${MAX_ATTEMPTS_KEPT - 1}
    ) k)
), dispatched as (
  update outbox o set dispatched_at = m.at
  from marks m
  where o.id = m.event_id and o.dispatched_at is null and o.id = any(array(select event_id from marks))
), released as (
  select * from jsonb_to_recordset($3::jsonb) as r(delivery_id bigint, until timestamptz)
), let_go as (
  update webhook_deliveries d set sending_until = null
  from released r
  where d.id = r.delivery_id and d.sending_until = r.until and d.id = any(array(select delivery_id from released))
)
select 1`;

/**
 * A receiver's words as Postgres text can hold them. What a receiver answers is its own (any bytes;
 * decoded, a NUL stays a NUL), and neither jsonb nor text takes U+0000: one such answer would fail
 * the statement, and with it every attempt recorded alongside (other tenants' included). Lone
 * surrogates, which jsonb refuses too, cannot come out of a UTF-8 decode, but an error message is
 * not one; both are dropped.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const storable = (text: string | null) => (text === null ? null : text.replace(UNSTORABLE, ''));

interface AttemptRecord {
  deliveryId: number;
  statusCode: number | null;
  durationMs: number;
  responseBody: string | null;
  error: string | null;
  delivered: boolean;
  at: Date;
}

export interface RecordInput {
  attempts: AttemptRecord[];
  /** The event whose dispatch this completes, and when. */
  dispatched?: { eventId: number; at: Date };
  /**
   * Deliveries a fan-out held (until `holdUntil`) that its dispatch did not attempt: their hold is
   * let go (unless another has taken them since), so the schedule they go to may attempt them now.
   */
  letGo?: { deliveryIds: number[]; holdUntil: Date };
}

export const recordDispatchOutcome = (db: Db, input: RecordInput): Promise<void> => recorder(db).call(input);

const recorder = perObject(
  (db: Db) =>
    new Coalescer<RecordInput, void>(async (inputs) => {
      const attempts = inputs.flatMap((i) =>
        i.attempts.map((a) => ({
          delivery_id: a.deliveryId,
          status_code: a.statusCode,
          duration_ms: a.durationMs,
          response_body: storable(a.responseBody),
          error: storable(a.error),
          delivered: a.delivered,
          at: a.at.toISOString(),
        })),
      );
      const marks = inputs.flatMap((i) => (i.dispatched ? [{ event_id: i.dispatched.eventId, at: i.dispatched.at.toISOString() }] : []));
      const released = inputs.flatMap((i) => (i.letGo ? i.letGo.deliveryIds.map((id) => ({ delivery_id: id, until: i.letGo!.holdUntil.toISOString() })) : []));
      await db.query(RECORD_ATTEMPTS, [JSON.stringify(attempts), JSON.stringify(marks), JSON.stringify(released)]);
      return inputs.map(() => undefined);
    }),
);
