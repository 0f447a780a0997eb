import type { Db } from '../../db/client.js';

/**
 * What is known of a license's offline leases, for the views: a lease is a signed token the client
 * keeps and checks alone, so nothing would show it unless its issue is written down. One row per
 * machine (license_leases, migration 0015); it grants and refuses nothing.
 */

/**
 * Writes down a lease just signed, as one statement: this machine's row takes the new issue time
 * and keeps the later of the two ends (an older token of that machine still verifies offline until
 * its own end, so that is how long it may run), and the license's rows past their end go, so rows
 * stay as many as the machines holding a live lease. Rows another lease is writing at that moment
 * are skipped, not waited for (`skip locked`): two machines of a license leasing at once, each
 * dropping the other's lapsed row, could otherwise wait on each other.
 */
export async function recordLease(db: Db, lease: { licenseId: number; hwid: string; issuedAt: Date; expiresAt: Date }): Promise<void> {
  await db
    .query(
      `with lapsed as (
       select hwid from license_leases where license_id = $1 and expires_at <= $3::timestamptz and hwid <> $2 for update skip locked),
     dropped as (delete from license_leases x using lapsed where x.license_id = $1 and x.hwid = lapsed.hwid)
     insert into license_leases (license_id, hwid, issued_at, expires_at) values ($1, $2, $3::timestamptz, $4::timestamptz)
     on conflict (license_id, hwid) do update set issued_at = excluded.issued_at, expires_at = greatest(license_leases.expires_at, excluded.expires_at)`,
      [lease.licenseId, lease.hwid, lease.issuedAt.toISOString(), lease.expiresAt.toISOString()],
    )
    .catch((err: unknown) => {
      // The license was deleted since validate read it (foreign key): nothing left to show it on.
      if ((err as { code?: string }).code !== '23503') throw err;
    });
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
