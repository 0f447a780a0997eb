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
// Read by keyset on id (a page after $1); a page's redeliveries are looked up in one pass over the
// commands, not one per delivery.
const PENDING = `with page as (
  select d.id from webhook_deliveries d
  where d.status = 'pending' and d.id > $1::bigint
    and not exists (select 1 from outbox e where e.id = d.event_id and e.dispatched_at is null)
  order by d.id limit $2::int
), redeliveries as (
  select o.payload->>'delivery_id' as delivery_id, max(o.created_at) as at from outbox o
  where o.kind = 'command' and o.type = 'redeliver_webhook' and o.payload->>'delivery_id' in (select id::text from page)
  group by 1
)
select p.id, r.at as redelivered_at,
    (select count(*) from webhook_attempts a where a.delivery_id = p.id and (r.at is null or a.created_at >= r.at)) as attempts_made,
    (select max(a.created_at) from webhook_attempts a where a.delivery_id = p.id) as last_at
  from page p left join redeliveries r on r.delivery_id = p.id::text
  order by p.id`;

/** A page of pending deliveries (ids after `afterId`) with what their retry schedule is derived from, oldest first. */
export async function pendingDeliveryProgress(deps: Deps, page: { afterId: number; limit: number }): Promise<DeliveryProgress[]> {
  const rows = await deps.db.query<{ id: string | number; attempts_made: string | number; last_at: Date | string | null }>(PENDING, [page.afterId, page.limit]);
  return rows.map((r) => ({ id: Number(r.id), attemptsMade: Number(r.attempts_made), lastAttemptAt: r.last_at ? new Date(r.last_at) : null }));
}
