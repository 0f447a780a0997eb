import type { Deps } from '../deps.js';

/**
 * What the database says is unfinished, for the reconciler to compare with what the queue holds.
 * Each list is read oldest first, a page at a time (keyset on id: the rows after `afterId`, at
 * most `limit`): after a Redis loss every one of them is wanted, and the oldest may all be held
 * still (a delayed retry, a live batch) while later ones are lost, so no list stops at a cap.
 */
export interface KeysetPage {
  afterId?: number;
  limit?: number;
}

/** Rows read per page of each list: the reconciler pages through all of them, this many at a time. */
export const RECONCILE_PAGE = 1000;

/**
 * A list's pages by keyset, oldest first (each page the rows after the last one's `keyOf`), until a
 * short page or until `stopped()`: the one paging loop of the reconciler and the local provider.
 */
export async function* keysetPages<T>(
  read: (page: { afterId: number; limit: number }) => Promise<T[]>,
  keyOf: (row: T) => number,
  opts: { limit: number; stopped: () => boolean },
): AsyncGenerator<T[]> {
  for (let afterId = 0; !opts.stopped(); ) {
    const page = await read({ afterId, limit: opts.limit });
    if (page.length > 0) yield page;
    if (page.length < opts.limit) return;
    afterId = keyOf(page[page.length - 1]!);
  }
}

export async function unfinishedGenerationJobs(deps: Deps, page: KeysetPage = {}): Promise<number[]> {
  const rows = await deps.db.query<{ id: number }>(`select id from jobs where status in ('queued', 'running') and id > $1::int order by id limit $2::int`, [
    page.afterId ?? 0,
    page.limit ?? RECONCILE_PAGE,
  ]);
  return rows.map((r) => Number(r.id));
}

export async function generationJobUnfinished(deps: Deps, jobId: number): Promise<boolean> {
  const rows = await deps.db.query(`select 1 from jobs where id = $1 and status in ('queued', 'running')`, [jobId]);
  return rows.length > 0;
}

export interface PendingDelivery {
  id: number;
  /** Attempts of its current schedule: since the latest redelivery the seller asked for, else all of them. */
  attempts: number;
  lastAttemptAt: Date | null;
  /** The outbox id of the latest redelivery the seller asked for, whose job then owns it. */
  redeliveryOutboxId: number | null;
}

// Keyset on id, so every page is one probe of the pending index. A redelivery's outbox command is
// looked up once per page (one pass over the commands for the page's ids), not once per delivery.
const PENDING_DELIVERIES = `with page as (
  select d.id, d.attempts from webhook_deliveries d
  where d.status = 'pending' and d.id > $2::bigint
    and not exists (select 1 from outbox e where e.id = d.event_id and e.dispatched_at is null)
    and (d.sending_until is null or d.sending_until <= $1::timestamptz)
  order by d.id limit $3::int
), redeliveries as (
  select o.payload->>'delivery_id' as delivery_id, max(o.id) as id, max(o.created_at) as at from outbox o
  where o.kind = 'command' and o.type = 'redeliver_webhook' and o.payload->>'delivery_id' in (select id::text from page)
  group by 1
)
select p.id,
  case when r.id is null then p.attempts
    else (select count(*) from webhook_attempts a where a.delivery_id = p.id and a.created_at >= r.at) end as attempts,
  (select max(a.created_at) from webhook_attempts a where a.delivery_id = p.id) as last_at,
  r.id as redelivery
from page p left join redeliveries r on r.delivery_id = p.id::text
order by p.id`;

/**
 * Pending deliveries of dispatched events that no dispatch holds, one page of them (ids after
 * `afterId`, oldest first): until its event is marked dispatched, and while a fan-out holds it for
 * its first attempt (`sending_until`: another dispatch of the event may have marked it), a
 * delivery is its dispatch's, so adding a job for it here could send it twice. One whose dispatch
 * crashed is taken once its hold is over.
 */
export async function pendingDeliveries(deps: Deps, page: KeysetPage = {}): Promise<PendingDelivery[]> {
  const rows = await deps.db.query<{ id: string | number; attempts: number | string; last_at: Date | string | null; redelivery: string | number | null }>(PENDING_DELIVERIES, [
    deps.clock.now().toISOString(),
    page.afterId ?? 0,
    page.limit ?? RECONCILE_PAGE,
  ]);
  return rows.map((r) => ({
    id: Number(r.id),
    attempts: Number(r.attempts),
    lastAttemptAt: r.last_at ? new Date(r.last_at) : null,
    redeliveryOutboxId: r.redelivery === null ? null : Number(r.redelivery),
  }));
}

export async function deliveryPending(deps: Deps, deliveryId: number): Promise<boolean> {
  const rows = await deps.db.query(`select 1 from webhook_deliveries where id = $1 and status = 'pending'`, [deliveryId]);
  return rows.length > 0;
}

/** Events handed to the queue whose fan-out has not run yet, one page of them (on the undispatched index). */
export async function undispatchedEvents(deps: Deps, page: KeysetPage = {}): Promise<{ id: number; type: string }[]> {
  const rows = await deps.db.query<{ id: string | number; type: string }>(
    `select id, type from outbox where kind = 'event' and relayed_at is not null and dispatched_at is null and id > $1::bigint order by id limit $2::int`,
    [page.afterId ?? 0, page.limit ?? RECONCILE_PAGE],
  );
  return rows.map((r) => ({ id: Number(r.id), type: r.type }));
}

/** Which of these events are still undispatched: `eventUndispatched` for a page of them in one statement. */
export async function eventsUndispatched(deps: Deps, eventIds: readonly number[]): Promise<Set<number>> {
  if (eventIds.length === 0) return new Set();
  const rows = await deps.db.query<{ id: string | number }>(`select id from outbox where id = any($1::bigint[]) and dispatched_at is null`, [eventIds]);
  return new Set(rows.map((r) => Number(r.id)));
}

export async function eventUndispatched(deps: Deps, eventId: number): Promise<boolean> {
  const rows = await deps.db.query(`select 1 from outbox where id = $1 and dispatched_at is null`, [eventId]);
  return rows.length > 0;
}
