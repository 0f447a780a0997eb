import type { Db } from '../db/client.js';
import type { OutboxRow } from '../core/webhooks/delivery-statements.js';

/** How long, and how many, relayed event rows are kept for a dispatch in this process. */
const KEEP_MS = 30_000;
const MAX_KEPT = 10_000;

const kept = new WeakMap<Db, Map<number, { row: OutboxRow; until: number }>>();

/**
 * Event rows the relay just read, kept for the dispatch jobs this same process runs: such a job
 * starts from the row instead of reading it again (one statement fewer per event). An outbox
 * event's row does not change but for its marks, which a dispatch does not go by, so a kept row is
 * as good as a fresh read. A job another worker process runs, or one that runs after KEEP_MS, reads
 * the row as before. Per database client, so one process's several databases (tests) never mix.
 */
export function keepRelayedEvents(db: Db, rows: OutboxRow[], now = Date.now()): void {
  let map = kept.get(db);
  if (!map) kept.set(db, (map = new Map()));
  for (const row of rows) {
    if (row.kind !== 'event') continue;
    map.delete(row.id);
    map.set(row.id, { row, until: now + KEEP_MS });
  }
  // Insertion order is age order: drop the oldest past the bound, and any expired at the front.
  for (const [id, entry] of map) {
    if (map.size <= MAX_KEPT && entry.until > now) break;
    map.delete(id);
  }
}

/** The kept row of an event, once: a later try of its job reads the database. */
export function takeRelayedEvent(db: Db, id: number, now = Date.now()): OutboxRow | undefined {
  const map = kept.get(db);
  const entry = map?.get(id);
  if (!entry) return undefined;
  map!.delete(id);
  return entry.until > now ? entry.row : undefined;
}
