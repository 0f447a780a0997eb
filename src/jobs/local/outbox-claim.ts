import type { Deps } from '../../core/deps.js';
import { OUTBOX_COLUMNS, outboxRowFrom, type OutboxRow, type RawOutboxRow } from '../../core/webhooks/delivery-statements.js';

interface ClaimedRow {
  id: number;
  kind: 'event' | 'command';
  type: string;
  payload: Record<string, unknown>;
}

/** Undispatched events read per pass; the rest wait for the next. */
const UNDISPATCHED_LIMIT = 1000;

// One statement: rows another process holds are skipped (SKIP LOCKED), as the BullMQ relay does,
// and the relay mark is set where they are read, so a row is claimed once. With them come the
// events taken earlier whose dispatch has not run (a failed try, a stop before it): the statement's
// snapshot is from before this claim's marks, so a row comes back once, as claimed or as earlier.
const CLAIM = `with claimed as (
  update outbox set relayed_at = $1::timestamptz
  where id in (select id from outbox where relayed_at is null order by id limit $2::int for update skip locked)
  returning ${OUTBOX_COLUMNS}
), earlier as (
  select ${OUTBOX_COLUMNS} from outbox
  where kind = 'event' and relayed_at is not null and dispatched_at is null order by id limit ${UNDISPATCHED_LIMIT}
)
select true as claimed, * from claimed
union all
select false as claimed, * from earlier`;

export interface OutboxWork {
  /** The rows this call took. */
  claimed: ClaimedRow[];
  /** Every event now taken and not yet dispatched (this call's and earlier ones), oldest first. */
  undispatched: OutboxRow[];
}

/**
 * Takes the committed outbox rows nobody has taken yet. The local provider has no queue to move
 * them to: the mark says "seen"; what is still to do stays in the database (an event's dispatch
 * mark, a job's status, a delivery's status), which is where the provider reads its work from —
 * the events to dispatch come back whole in the same statement.
 */
export async function claimOutboxRows(deps: Deps, limit: number): Promise<OutboxWork> {
  const rows = await deps.db.query<RawOutboxRow & { claimed: boolean }>(CLAIM, [deps.clock.now().toISOString(), limit]);
  const all = rows.map((r) => ({ claimed: r.claimed, row: outboxRowFrom(r) })).sort((a, b) => a.row.id - b.row.id);
  return {
    claimed: all.filter((r) => r.claimed).map(({ row }) => ({ id: row.id, kind: row.kind, type: row.type, payload: row.payload })),
    undispatched: all.filter(({ row }) => row.kind === 'event' && row.dispatchedAt === null).map(({ row }) => row),
  };
}
