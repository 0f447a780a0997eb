import type { webhookAttempts, webhookDeliveries, webhooks } from '../../db/schema.js';

export const toWebhookView = (w: typeof webhooks.$inferSelect, extra: { secret?: string } = {}) => ({
  id: w.id,
  application_id: w.applicationId,
  url: w.url,
  events: w.events,
  active: w.active,
  ...(extra.secret !== undefined ? { secret: extra.secret } : {}),
  created_at: w.createdAt.toISOString(),
  updated_at: w.updatedAt.toISOString(),
});

export const toDeliveryView = (d: typeof webhookDeliveries.$inferSelect, attempts: (typeof webhookAttempts.$inferSelect)[] = []) => ({
  id: d.id,
  webhook_id: d.webhookId,
  event_id: d.eventId,
  event_type: d.eventType,
  status: d.status,
  attempts: d.attempts,
  last_status_code: d.lastStatusCode,
  created_at: d.createdAt.toISOString(),
  delivered_at: d.deliveredAt?.toISOString() ?? null,
  attempt_log: attempts.map((a) => ({
    status_code: a.statusCode,
    duration_ms: a.durationMs,
    response_body: a.responseBody,
    error: a.error,
    created_at: a.createdAt.toISOString(),
  })),
});

/** The states of a delivery, for the doors' schemas (the doors name no table). */
export { DELIVERY_STATUSES } from '../../db/schema.js';
