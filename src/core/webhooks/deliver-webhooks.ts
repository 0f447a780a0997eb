import { and, eq, isNull } from 'drizzle-orm';
import { outbox, webhookDeliveries, webhooks } from '../../db/schema.js';
import type { Deps } from '../deps.js';
import { postWebhook } from './post-webhook.js';
import { signWebhook } from './webhook-signature.js';

export const WEBHOOK_TIMEOUT_MS = 10_000;

type OutboxRow = typeof outbox.$inferSelect;

/** The delivery body of API.md: `{id, type, created_at, application_id, data}`. */
export const eventBody = (e: OutboxRow) =>
  JSON.stringify({ id: `evt_${e.id}`, type: e.type, created_at: e.createdAt.toISOString(), application_id: e.applicationId, data: e.payload });

// Subscribed webhooks get a delivery each; the deliveries of this event still pending (a retried
// job) are returned with the new ones. One statement: the second half reads the snapshot from
// before the insert, so the union is "new" plus "already there", each once. Pending rows are found
// through the (webhook_id, event_id) unique index, by way of the application's webhooks.
const FAN_OUT = `with hooks as (
  select id, active, events from webhooks where application_id = $1
), inserted as (
  insert into webhook_deliveries (webhook_id, event_id, event_type, body)
  select id, $2::bigint, $3::text, $4::text from hooks
  where case when $5::int is not null then id = $5::int else active and $3::text = any(events) end
  on conflict do nothing
  returning id
)
select id from inserted
union
select d.id from webhook_deliveries d join hooks h on h.id = d.webhook_id where d.event_id = $2::bigint and d.status = 'pending'`;

/**
 * Creates one delivery per subscribed, active webhook of the event's application (or the one
 * webhook a `webhook.test` names). Safe to run again for the same event (a retried job): the
 * unique (webhook, event) pair keeps it to one delivery each, and every pending delivery id is
 * returned for sending. Two statements: read the event, then fan out.
 */
export async function fanOutEvent(deps: Deps, eventId: number): Promise<{ event: OutboxRow | null; deliveries: number[] }> {
  const [event] = await deps.db.orm.select().from(outbox).where(eq(outbox.id, eventId));
  if (!event || event.kind !== 'event' || event.applicationId === null) return { event: event ?? null, deliveries: [] };
  const only = event.type === 'webhook.test' ? Number(event.payload.webhook_id) : null;
  const rows = await deps.db.query<{ id: number | string }>(FAN_OUT, [event.applicationId, event.id, event.type, eventBody(event), only]);
  return { event, deliveries: rows.map((r) => Number(r.id)) };
}

// The attempt's log row and the delivery's new state in one statement, so both or neither land.
const RECORD_ATTEMPT = `with attempt as (
  insert into webhook_attempts (delivery_id, status_code, duration_ms, response_body, error)
  values ($1::bigint, $2::int, $3::int, $4::text, $5::text)
)
update webhook_deliveries set
  attempts = attempts + 1,
  last_status_code = $2::int,
  status = case when $6::boolean then 'delivered' else status end,
  delivered_at = case when $6::boolean then $7::timestamptz else delivered_at end
where id = $1::bigint`;

export type AttemptOutcome = 'delivered' | 'retry' | 'dropped';

/**
 * One attempt at one delivery, recorded whatever happens. The same `X-Keycord-Delivery` id goes
 * with every attempt, and the signature is made fresh (its timestamp is the attempt's).
 */
export async function attemptDelivery(deps: Deps, deliveryId: number): Promise<AttemptOutcome> {
  const [row] = await deps.db.orm
    .select({ delivery: webhookDeliveries, hook: webhooks })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .where(eq(webhookDeliveries.id, deliveryId));
  if (!row) return 'dropped';
  if (row.delivery.status === 'delivered') return 'delivered';
  if (!row.hook.active && row.delivery.eventType !== 'webhook.test') {
    await markFailed(deps, deliveryId);
    return 'dropped';
  }
  const secret = deps.box.open(row.hook.secretEnc).toString('utf8');
  const t = Math.floor(Date.now() / 1000);
  const result = await postWebhook(
    row.hook.url,
    row.delivery.body,
    {
      'X-Keycord-Event': row.delivery.eventType,
      'X-Keycord-Delivery': String(deliveryId),
      'X-Keycord-Signature': signWebhook(secret, row.delivery.body, t),
    },
    { timeoutMs: WEBHOOK_TIMEOUT_MS, allowPrivate: deps.webhooks.allowPrivateUrls },
  );
  const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
  await deps.db.query(RECORD_ATTEMPT, [deliveryId, result.statusCode, result.durationMs, result.body, result.error, ok, deps.clock.now().toISOString()]);
  return ok ? 'delivered' : 'retry';
}

/** After the last retry (about a day of them), the delivery is marked failed. */
export async function markFailed(deps: Deps, deliveryId: number) {
  await deps.db.orm
    .update(webhookDeliveries)
    .set({ status: 'failed' })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'pending')));
}

/**
 * Records that an event's fan-out is over (done, or given up after its last attempt), so the
 * reconciler stops looking for its job.
 */
export async function markDispatched(deps: Deps, eventId: number) {
  await deps.db.orm.update(outbox).set({ dispatchedAt: deps.clock.now() }).where(and(eq(outbox.id, eventId), isNull(outbox.dispatchedAt)));
}
