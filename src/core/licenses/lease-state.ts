import type { Db } from '../../db/client.js';
import { latestNow, turnBatchPerDatabase } from '../turn-batch.js';
import { DEADLOCK_DETECTED, FOREIGN_KEY_VIOLATION, sqlStateOf } from '../../db/sql-state.js';

/**
 * What is known of a license's offline leases, for the views: a lease is a signed token the client
 * keeps and checks alone, so nothing would show it unless its issue is written down. One row per
 * machine (license_leases, migration 0015); it grants and refuses nothing.
 */

/** A lease just signed, to be written down. */
export interface LeaseRecord {
  licenseId: number;
  hwid: string;
  issuedAt: Date;
  expiresAt: Date;
}

/**
 * Writes down the leases signed in one turn of the event loop, as one statement and one commit
 * (under load, leases answered together share them, as heartbeats' seats do). Each machine's row
 * takes the new issue time and keeps the later of the two ends (an older token of that machine
 * still verifies offline until its own end, so that is how long it may run); two leases of one
 * machine in the batch count as the later one. The licenses' rows past their end go, so rows stay
 * as many as the machines holding a live lease; rows another statement is writing at that moment
 * are skipped, not waited for (`skip locked`), and rows are written in (license, HWID) order, as
 * concurrent batches then lock alike (what is left is met by RUN_AGAIN). A license deleted since its validation read it is left out:
 * nothing is left to show its lease on.
 */
const RECORD_LEASES = `with r as (
  select distinct on (license_id, hwid) license_id, hwid, issued_at::timestamptz as issued_at, expires_at::timestamptz as expires_at
  from unnest($1::int[], $2::text[], $3::text[], $4::text[]) as r(license_id, hwid, issued_at, expires_at)
  order by license_id, hwid, expires_at::timestamptz desc
), lapsed as (
  select x.license_id, x.hwid from license_leases x
  where x.license_id = any($1::int[]) and x.expires_at <= $5::timestamptz
    and not exists (select 1 from r where r.license_id = x.license_id and r.hwid = x.hwid)
  order by x.license_id, x.hwid
  for update skip locked
), dropped as (
  delete from license_leases x using lapsed where x.license_id = lapsed.license_id and x.hwid = lapsed.hwid
)
insert into license_leases (license_id, hwid, issued_at, expires_at)
select r.license_id, r.hwid, r.issued_at, r.expires_at from r
where exists (select 1 from licenses l where l.id = r.license_id)
order by r.license_id, r.hwid
on conflict (license_id, hwid) do update set issued_at = excluded.issued_at, expires_at = greatest(license_leases.expires_at, excluded.expires_at)`;

/**
 * Met by running the statement once more. A foreign-key violation: a license deleted after the
 * statement's snapshot but before its insert (the deletion has committed, or the insert would have
 * waited), which the next snapshot leaves out. A deadlock: two batches at once, each holding a
 * lapsed row (its lock taken to drop it) of a machine the other is leasing again — rare, and
 * Postgres breaks it by failing one of them.
 */
const RUN_AGAIN = new Set([FOREIGN_KEY_VIOLATION, DEADLOCK_DETECTED]);

async function recordLeases(db: Db, batch: LeaseRecord[]): Promise<void[]> {
  const params = [
    batch.map((l) => l.licenseId),
    batch.map((l) => l.hwid),
    batch.map((l) => l.issuedAt.toISOString()),
    batch.map((l) => l.expiresAt.toISOString()),
    latestNow(batch.map((l) => ({ now: l.issuedAt }))).toISOString(),
  ];
  try {
    await db.query(RECORD_LEASES, params);
  } catch (err) {
    if (!RUN_AGAIN.has(sqlStateOf(err) ?? '')) throw err;
    await db.query(RECORD_LEASES, params);
  }
  return new Array<void>(batch.length);
}

const leaseRecordsOf = turnBatchPerDatabase(recordLeases);

/** Writes down a lease just signed, with the others signed in the same turn (RECORD_LEASES). */
export function recordLease(db: Db, lease: LeaseRecord): Promise<void> {
  return leaseRecordsOf(db).add(lease);
}

/**
 * SQL for the offline leases of the license `l` (for the reads that show them, inside their one
 * query, as seatColumnsSql does for seats): `leases_active`, the machines holding a lease that has
 * not ended at `$now`, and `leases_until`, the latest end among them (null when none).
 */
export function leaseColumnsSql(now: string): string {
  const live = `from license_leases x where x.license_id = l.id and x.expires_at > ${now}::timestamptz`;
  return `(select count(*)::int ${live}) as leases_active, (select max(x.expires_at) ${live}) as leases_until`;
}

/** Offline leases of a license as the views show them: "until <end> (2 machines)"; null = none live. */
export interface LeaseUse {
  machines: number;
  until: Date;
}

export const leaseUseOf = (r: { leases_active: number | null; leases_until: Date | string | null }): LeaseUse | null =>
  !r.leases_active || r.leases_until === null ? null : { machines: r.leases_active, until: new Date(r.leases_until) };
