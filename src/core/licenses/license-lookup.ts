import type { Db } from '../../db/client.js';
import type { LicenseStatus } from '../../db/schema.js';
import { latestNow, TurnBatch } from '../turn-batch.js';
import { toDateOrNull } from '../../db/timestamps.js';

/** The part of a license (and its plan) that validation decides on. */
export interface LicenseState {
  id: number;
  licenseKey: string;
  status: LicenseStatus;
  hwids: string[];
  activatedAt: Date | null;
  expiresAt: Date | null;
  durationDays: number;
  /** The last use the usage recorder wrote, and from which address. */
  lastUsed: Date | null;
  lastIp: string | null;
  planId: number;
  planName: string;
  planDurationDays: number;
  planMaxHwids: number | null;
  /** Floating-seat overrides of the plan (null = the application's setting). */
  planMaxConcurrent: number | null;
  planHeartbeatIntervalS: number | null;
  /** The plan's longest offline lease in hours (0 = off; null = the application's setting). */
  planMaxOfflineHours: number | null;
  /** Whether the plan's `sharing` sets a detection threshold; null = the plan has none (the application's applies). */
  planWatchesSharing: boolean | null;
  /** Read only by a heartbeat's lookup (`findWithSeat`). */
  seat?: SeatSnapshot;
}

/**
 * This HWID's floating seat, read with the license by a heartbeat's lookup: when its last renewal
 * was (null = it holds none) and how many seats of the license are live now, this one included.
 */
export interface SeatSnapshot {
  renewedAt: Date | null;
  live: number;
}

/** The columns a LicenseState is read from (`l` the license, `p` its plan); `i` the entry's position. */
export const licenseStateColumns = (i: string) => `${i} as i, l.id, l.license_key, l.status, l.hwids, l.activated_at, l.expires_at, l.duration_days,
  l.last_used, l.ip_address, p.id as plan_id, p.name as plan_name, p.duration_days as plan_duration_days, p.max_hwids as plan_max_hwids,
  p.max_concurrent as plan_max_concurrent, p.heartbeat_interval_s as plan_heartbeat_interval_s, p.max_offline_hours as plan_max_offline_hours,
  case when p.sharing is null then null else (p.sharing->>'max_ips_per_24h' is not null or p.sharing->>'max_hwid_mismatches_per_1h' is not null) end as plan_watches_sharing`;
const LICENSE_COLUMNS = licenseStateColumns('q.i::int');

/**
 * Each entry's license, by its unique (application_id, license_key): a probe of that index per
 * entry. As a plain join the planner may hash a sequential scan of licenses for a batch instead,
 * and does where the table is small or not yet analysed (a new application's first keys, a bulk
 * generation autovacuum has not caught up with): 5,000 licenses and a batch of 50 took 2.1 ms a
 * batch that way against 0.28 ms probing. A subquery with `limit 1` is never flattened into a join.
 */
const LICENSE_OF_ENTRY = `cross join lateral (select * from licenses z where z.application_id = q.application_id and z.license_key = q.license_key limit 1) l`;

/** Exported so the validation bench can print its plan (it must stay an index probe per key). */
export const LICENSE_LOOKUP_SQL = `select ${LICENSE_COLUMNS}
from unnest($1::int[], $2::text[]) with ordinality as q(application_id, license_key, i)
${LICENSE_OF_ENTRY}
join plans p on p.id = l.plan_id`;

/**
 * A heartbeat's lookup: the license, and in the same probe its seat for this HWID and the count of
 * live seats (a seat lapses 2 × the heartbeat interval — the plan's, else the application's, given
 * per entry — after its last renewal). Both come from one scan of the license's seats (a handful of
 * rows under the primary key) rather than a join and a count that would each descend the index.
 * `$3` the HWIDs, `$4` the application intervals, `$5` now.
 */
const SEAT_LOOKUP_SQL = `select ${LICENSE_COLUMNS}, s.seat_renewed_at, s.seats_live
from unnest($1::int[], $2::text[], $3::text[], $4::int[]) with ordinality as q(application_id, license_key, hwid, interval_s, i)
${LICENSE_OF_ENTRY}
join plans p on p.id = l.plan_id
cross join lateral (select max(z.last_heartbeat_at) filter (where z.hwid = q.hwid) as seat_renewed_at,
    (count(*) filter (where z.last_heartbeat_at > $5::timestamptz - make_interval(secs => 2 * coalesce(p.heartbeat_interval_s, q.interval_s))))::int as seats_live
  from license_seats z where z.license_id = l.id) s`;

interface Row {
  i: number;
  id: number;
  license_key: string;
  status: LicenseStatus;
  hwids: string[];
  activated_at: Date | string | null;
  expires_at: Date | string | null;
  duration_days: number;
  last_used: Date | string | null;
  ip_address: string | null;
  plan_id: number;
  plan_name: string;
  plan_duration_days: number;
  plan_max_hwids: number | null;
  plan_max_concurrent: number | null;
  plan_heartbeat_interval_s: number | null;
  plan_max_offline_hours: number | null;
  plan_watches_sharing: boolean | null;
}

interface SeatRow extends Row {
  seat_renewed_at: Date | string | null;
  seats_live: number;
}

interface KeyRequest {
  applicationId: number;
  licenseKey: string;
}

interface SeatRequest extends KeyRequest {
  hwid: string;
  /** The application's heartbeat interval, for plans that set none. */
  intervalS: number;
  now: Date;
}

/** Rows answered by ordinality `i` (1-based), put back in the requests' order; null = no such key. */
function inRequestOrder<R extends { i: number }, T>(count: number, rows: R[], map: (r: R) => T): (T | null)[] {
  const answers: (T | null)[] = new Array(count).fill(null);
  for (const r of rows) answers[Number(r.i) - 1] = map(r);
  return answers;
}

/**
 * Validation's one database read. Lookups that arrive in the same turn of the event loop share
 * one query (an index probe per key), which keeps the database round trips per request below one
 * under load. Reads are never cached: a ban or reset is seen by the very next validation.
 */
export class LicenseLookup {
  private readonly keys: TurnBatch<KeyRequest, LicenseState | null>;
  private readonly seats: TurnBatch<SeatRequest, LicenseState | null>;

  constructor(db: Db, maxBatch = 256) {
    this.keys = new TurnBatch(async (batch) => {
      const rows = await db.query<Row>(LICENSE_LOOKUP_SQL, [batch.map((w) => w.applicationId), batch.map((w) => w.licenseKey)]);
      return inRequestOrder(batch.length, rows, toState);
    }, maxBatch);
    this.seats = new TurnBatch(async (batch) => {
      const now = latestNow(batch);
      const rows = await db.query<SeatRow>(SEAT_LOOKUP_SQL, [
        batch.map((w) => w.applicationId),
        batch.map((w) => w.licenseKey),
        batch.map((w) => w.hwid),
        batch.map((w) => w.intervalS),
        now.toISOString(),
      ]);
      return inRequestOrder(batch.length, rows, toStateWithSeat);
    }, maxBatch);
  }

  find(applicationId: number, licenseKey: string): Promise<LicenseState | null> {
    return this.keys.add({ applicationId, licenseKey });
  }

  /** The license as `find` reads it, with this HWID's floating seat (`seat`), in the same probe. */
  findWithSeat(applicationId: number, licenseKey: string, hwid: string, intervalS: number, now: Date): Promise<LicenseState | null> {
    return this.seats.add({ applicationId, licenseKey, hwid, intervalS, now });
  }
}

function toState(r: Row, seat?: SeatSnapshot): LicenseState {
  return {
    id: r.id,
    licenseKey: r.license_key,
    status: r.status,
    hwids: r.hwids,
    activatedAt: toDateOrNull(r.activated_at),
    expiresAt: toDateOrNull(r.expires_at),
    durationDays: r.duration_days,
    lastUsed: toDateOrNull(r.last_used),
    lastIp: r.ip_address,
    planId: r.plan_id,
    planName: r.plan_name,
    planDurationDays: r.plan_duration_days,
    planMaxHwids: r.plan_max_hwids,
    planMaxConcurrent: r.plan_max_concurrent,
    planHeartbeatIntervalS: r.plan_heartbeat_interval_s,
    planMaxOfflineHours: r.plan_max_offline_hours,
    planWatchesSharing: r.plan_watches_sharing,
    seat,
  };
}

const toStateWithSeat = (r: SeatRow) => toState(r, { renewedAt: toDateOrNull(r.seat_renewed_at), live: r.seats_live });

export const stateFromRow = (r: Row) => toState(r);
export type LicenseStateRow = Row;
