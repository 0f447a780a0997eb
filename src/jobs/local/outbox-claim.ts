import type { Deps } from '../../core/deps.js';

export interface ClaimedRow {
  id: number;
  kind: 'event' | 'command';
  type: string;
  payload: Record<string, unknown>;
}

// One statement: rows another process holds are skipped (SKIP LOCKED), as the BullMQ relay does,
// and the relay mark is set where they are read, so a row is claimed once.
const CLAIM = `update outbox set relayed_at = $1::timestamptz
  where id in (select id from outbox where relayed_at is null order by id limit $2::int for update skip locked)
  returning id, kind, type, payload`;

/**
 * Takes the committed outbox rows nobody has taken yet. The local provider has no queue to move
 * them to: the mark says "seen"; what is still to do stays in the database (an event's dispatch
 * mark, a job's status, a delivery's status), which is where the provider reads its work from.
 */
export async function claimOutboxRows(deps: Deps, limit: number): Promise<ClaimedRow[]> {
  const rows = await deps.db.query<{ id: string | number; kind: 'event' | 'command'; type: string; payload: Record<string, unknown> }>(CLAIM, [
    deps.clock.now().toISOString(),
    limit,
  ]);
  return rows.map((r) => ({ ...r, id: Number(r.id) })).sort((a, b) => a.id - b.id);
}
