import { and, eq, sql } from 'drizzle-orm';
import { outbox, webhookAttempts, webhookDeliveries, webhooks } from '../../db/schema.js';
import type { Deps } from '../deps.js';
import { postWebhook } from './post-webhook.js';
import { signWebhook } from './webhook-signature.js';

export const WEBHOOK_TIMEOUT_MS = 10_000;

type OutboxRow = typeof outbox.$inferSelect;

/** The delivery body of API.md: `{id, type, created_at, application_id, data}`. */
export const eventBody = (e: OutboxRow) =>
  JSON.stringify({ id: `evt_${e.id}`, type: e.type, created_at: e.createdAt.toISOString(), application_id: e.applicationId, data: e.payload });

/**
 * Creates one delivery per subscribed, active webhook of the event's application. Safe to run
 * again for the same event (a retried job): the unique (webhook, event) pair keeps it to one
 * delivery each, and every pending delivery id is returned for sending.
 */
export async function fanOutEvent(deps: Deps, eventId: number): Promise<number[]> {
  const [event] = await deps.db.orm.select().from(outbox).where(eq(outbox.id, eventId));
  if (!event || event.kind !== 'event' || event.applicationId === null) return [];
  const only = event.type === 'webhook.test' ? Number(event.payload.webhook_id) : null;
  const targets = await deps.db.orm
    .select({ id: webhooks.id })
    .from(webhooks)
    .where(
      and(
        eq(webhooks.applicationId, event.applicationId),
        only !== null ? eq(webhooks.id, only) : and(eq(webhooks.active, true), sql`${event.type} = any(${webhooks.events})`),
      ),
    );
  if (targets.length === 0) return [];
  const body = eventBody(event);
  await deps.db.orm
    .insert(webhookDeliveries)
    .values(targets.map((t) => ({ webhookId: t.id, eventId: event.id, eventType: event.type, body })))
    .onConflictDoNothing();
  const pending = await deps.db.orm
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.eventId, event.id), eq(webhookDeliveries.status, 'pending')));
  return pending.map((p) => p.id);
}

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
  await deps.db.orm.transaction(async (tx) => {
    await tx.insert(webhookAttempts).values({
      deliveryId,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
      responseBody: result.body,
      error: result.error,
    });
    await tx
      .update(webhookDeliveries)
      .set({
        attempts: sql`${webhookDeliveries.attempts} + 1`,
        lastStatusCode: result.statusCode,
        ...(ok ? { status: 'delivered' as const, deliveredAt: deps.clock.now() } : {}),
      })
      .where(eq(webhookDeliveries.id, deliveryId));
  });
  return ok ? 'delivered' : 'retry';
}

/** After the last retry (about a day of them), the delivery is marked failed. */
export async function markFailed(deps: Deps, deliveryId: number) {
  await deps.db.orm
    .update(webhookDeliveries)
    .set({ status: 'failed' })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'pending')));
}
