import type { ClientApplication } from '../applications/application-cache.js';
import type { Deps } from '../deps.js';
import { normalizeKey } from './key-format.js';
import type { LicenseState } from './license-lookup.js';
import { validateLicense, type ValidationCode } from './validate-license.js';

/**
 * Floating seats: "any 3 machines at once". A HWID holds a seat while its heartbeats arrive within
 * 2 × the heartbeat interval; `release` frees it at once.
 *
 * Seats live in Postgres (license_seats), not Redis. The database is already on the heartbeat's
 * path (validate's lookup), so the seat costs one more statement and no second store; a seat
 * survives a restart or a Redis flush (durability: a crash never hands out a 4th seat), and the
 * grant — lock the license, drop lapsed seats, count, take a seat only while count < max — is one
 * statement (keycord_seat_heartbeat, migration 0013), so exactly `max_concurrent` win a race.
 *
 * Seats and HWID slots: where a license has floating seats (plan or application `max_concurrent`),
 * a heartbeat checks everything validate checks except the HWID slot rule (`max_hwids`) and binds
 * no HWID: the seats decide which machines run, any machine may take a free one. Validate itself
 * is unchanged (it still binds slots), so a client of a seat-counted application calls heartbeat.
 */
interface SeatSettings {
  max: number;
  intervalS: number;
}

/** A license's floating seats: the plan's setting, else the application's; null = off. */
function seatSettingsOf(app: ClientApplication, license: Pick<LicenseState, 'planMaxConcurrent' | 'planHeartbeatIntervalS'>): SeatSettings | null {
  const max = license.planMaxConcurrent ?? app.settings.max_concurrent;
  return max === null ? null : { max, intervalS: license.planHeartbeatIntervalS ?? app.settings.heartbeat_interval_s };
}

type HeartbeatCode = ValidationCode | 'SEATS_FULL';

export interface HeartbeatOutcome {
  success: boolean;
  code: HeartbeatCode;
  message: string;
  /** Live seats of the license after this heartbeat; null when seats are off or nothing was decided. */
  seats_used: number | null;
  seats_max: number | null;
  next_heartbeat_s: number;
}

export interface HeartbeatInput {
  license_key: string;
  hwid: string;
  ip?: string | null;
}

const SEATS_FULL_MESSAGE = 'Every seat of this license is in use';

/** The validate decision (one shared lookup), then, where seats are on, one seat statement. */
export async function heartbeatLicense(deps: Deps, app: ClientApplication, input: HeartbeatInput): Promise<HeartbeatOutcome> {
  const seen: { seats: SeatSettings | null } = { seats: null };
  const decision = await validateLicense(deps, app, input, {
    hwidSlots: (license) => {
      seen.seats = seatSettingsOf(app, license);
      return seen.seats === null;
    },
  });
  const { seats } = seen;
  const base = { success: decision.success, code: decision.code as HeartbeatCode, message: decision.message };
  if (!seats) return { ...base, seats_used: null, seats_max: null, next_heartbeat_s: app.settings.heartbeat_interval_s };
  if (!decision.success || decision.licenseId === undefined) return { ...base, seats_used: null, seats_max: seats.max, next_heartbeat_s: seats.intervalS };
  const [row] = await deps.db.query<{ granted: boolean; seats_used: number }>('select granted, seats_used from keycord_seat_heartbeat($1, $2, $3, $4::timestamptz, $5)', [
    decision.licenseId,
    input.hwid.trim(),
    seats.max,
    deps.clock.now().toISOString(),
    2 * seats.intervalS,
  ]);
  const granted = row?.granted === true;
  return {
    success: granted,
    code: granted ? 'VALID' : 'SEATS_FULL',
    message: granted ? decision.message : SEATS_FULL_MESSAGE,
    seats_used: row?.seats_used ?? null,
    seats_max: seats.max,
    next_heartbeat_s: seats.intervalS,
  };
}

export type ReleaseCode = 'RELEASED' | 'NOT_HELD' | 'NOT_FOUND';

/**
 * Frees this HWID's seat at once (a clean exit). Nothing is refused here — not a paused
 * application nor a blacklisted device: giving a seat back never grants anything. One statement.
 */
export async function releaseSeat(deps: Deps, app: ClientApplication, input: { license_key: string; hwid: string }): Promise<{ success: boolean; code: ReleaseCode }> {
  const [row] = await deps.db.query<{ found: boolean; released: number }>(
    `with lic as (select id from licenses where application_id = $1 and license_key = $2),
     del as (delete from license_seats s using lic where s.license_id = lic.id and s.hwid = $3 returning 1)
     select exists (select 1 from lic) as found, (select count(*) from del)::int as released`,
    [app.id, normalizeKey(input.license_key), input.hwid.trim()],
  );
  if (!row?.found) return { success: false, code: 'NOT_FOUND' };
  return row.released > 0 ? { success: true, code: 'RELEASED' } : { success: true, code: 'NOT_HELD' };
}

/**
 * SQL for the floating seats of the license `l` of plan `p` in application `a` (for the reads that
 * show them, inside their one query): `seats_max` (null = off) and `seats_used` (live seats only,
 * lapsed ones not counted). `$now` and `$defaultInterval` name the query's parameters.
 */
export function seatColumnsSql(now: string, defaultInterval: string): string {
  const max = `coalesce(p.max_concurrent, (a.settings->>'max_concurrent')::int)`;
  const interval = `coalesce(p.heartbeat_interval_s, (a.settings->>'heartbeat_interval_s')::int, ${defaultInterval}::int)`;
  return `${max} as seats_max,
  case when ${max} is null then null else (select count(*)::int from license_seats s
    where s.license_id = l.id and s.last_heartbeat_at > ${now}::timestamptz - make_interval(secs => 2 * ${interval})) end as seats_used`;
}

/** Seats of a license as the views show them: "2 of 3 in use"; null = floating seats off. */
export interface SeatUse {
  used: number;
  max: number;
}

export const seatUseOf = (r: { seats_max: number | null; seats_used: number | null }): SeatUse | null => (r.seats_max === null ? null : { used: r.seats_used ?? 0, max: r.seats_max });
