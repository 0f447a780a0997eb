import type { Deps } from '../deps.js';

/** How long a relayed event stays in the outbox (the reconciler and redeliveries look back this far). */
const RELAYED_EVENTS_KEPT_MS = 7 * 86_400_000;

// Commands are done with once relayed (their work has rows of its own: a job, a delivery). An event
// is done with once dispatched; one that is not (its dispatch could not be marked, and is still
// made up for by the reconciler) is kept, whatever its age, and counted — one statement.
const FORGET = `with forgotten as (
  delete from outbox
  where relayed_at is not null and relayed_at < $1::timestamptz
    and (kind = 'command' or (dispatched_at is not null and dispatched_at < $1::timestamptz))
)
select count(*)::int as undispatched from outbox
where kind = 'event' and dispatched_at is null and relayed_at is not null and relayed_at < $1::timestamptz`;

/**
 * Drops outbox rows relayed (events: dispatched) more than RELAYED_EVENTS_KEPT_MS ago (the
 * maintenance job). Events relayed that long ago and still undispatched are kept, with a warning.
 */
export async function forgetRelayedEvents(deps: Deps): Promise<void> {
  const before = new Date(deps.clock.now().getTime() - RELAYED_EVENTS_KEPT_MS);
  const [row] = await deps.db.query<{ undispatched: number }>(FORGET, [before.toISOString()]);
  const undispatched = Number(row?.undispatched ?? 0);
  if (undispatched > 0) deps.log.warn({ undispatched }, 'outbox events relayed over 7 days ago are still undispatched; kept until they are');
}
