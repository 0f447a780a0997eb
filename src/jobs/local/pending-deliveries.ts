import type { Deps } from '../../core/deps.js';

export interface DeliveryProgress {
  id: number;
  /** Attempts since it was last queued: its creation, or the seller's latest redelivery. */
  attemptsMade: number;
  lastAttemptAt: Date | null;
}

// Attempts count from the latest redelivery the seller asked for: it gets a full schedule again,
// as the BullMQ provider's redelivery job does. Deliveries of an event not yet marked dispatched are
// its dispatch's (which makes their first attempt), so they are left out until it is.
const PENDING = `select d.id, r.at as redelivered_at,
    (select count(*) from webhook_attempts a where a.delivery_id = d.id and (r.at is null or a.created_at >= r.at)) as attempts_made,
    (select max(a.created_at) from webhook_attempts a where a.delivery_id = d.id) as last_at
  from webhook_deliveries d
  left join lateral (
    select max(o.created_at) as at from outbox o
    where o.kind = 'command' and o.type = 'redeliver_webhook' and o.payload->>'delivery_id' = d.id::text
  ) r on true
  where d.status = 'pending'
    and not exists (select 1 from outbox e where e.id = d.event_id and e.dispatched_at is null)
  order by d.id limit $1::int`;

/** Pending deliveries with what their retry schedule is derived from, oldest first. */
export async function pendingDeliveryProgress(deps: Deps, limit: number): Promise<DeliveryProgress[]> {
  const rows = await deps.db.query<{ id: string | number; attempts_made: string | number; last_at: Date | string | null }>(PENDING, [limit]);
  return rows.map((r) => ({ id: Number(r.id), attemptsMade: Number(r.attempts_made), lastAttemptAt: r.last_at ? new Date(r.last_at) : null }));
}
