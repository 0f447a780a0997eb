import type { Db } from '../../db/client.js';
import type { ClientApplication } from '../applications/application-cache.js';
import type { Deps } from '../deps.js';
import { normalizeKey } from './key-format.js';
import type { LicenseState, SeatSnapshot } from './license-lookup.js';
import { latestNow, turnBatchPerDatabase } from '../turn-batch.js';
import { DEADLOCK_DETECTED, FOREIGN_KEY_VIOLATION, sqlStateOf } from '../../db/sql-state.js';
import { VALIDATION_MESSAGES, validateLicense, type ValidateLicenseOptions, type ValidationCode, type ValidationOutcome } from './validate-license.js';

/**
 * Floating seats: "any 3 machines at once". A HWID holds a seat while its heartbeats arrive within
 * 2 × the heartbeat interval; `release` frees it at once.
 *
 * Seats live in Postgres (license_seats), not Redis. The database is already on the heartbeat's
 * path (validate's lookup), so the seat costs one more statement and no second store; a seat
 * survives a restart or a Redis flush (durability: a crash never hands out a 4th seat), and the
 * grant — lock the license, drop lapsed seats, count, take a seat only while count < max — is one
 * statement (keycord_seat_heartbeat, migration 0013), so exactly `max_concurrent` win a race.
 * A maximum lowered below the seats held takes them back: while a license has more live seats
 * than its maximum, the newest (by grant time) are released and refused at their next heartbeat
 * (migration 0022).
 *
 * Seats and HWID slots: where a license has floating seats (plan or application `max_concurrent`),
 * a heartbeat checks everything validate checks except the HWID slot rule (`max_hwids`) and binds
 * no HWID: the seats decide which machines run, any machine may take a free one. Validate itself
 * is unchanged (it still binds slots), so a client of a seat-counted application calls heartbeat.
 */
export interface SeatSettings {
  max: number;
  intervalS: number;
}

/** A license's floating seats: the plan's setting, else the application's; null = off. */
export function seatSettingsOf(app: ClientApplication, license: Pick<LicenseState, 'planMaxConcurrent' | 'planHeartbeatIntervalS'>): SeatSettings | null {
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

export const SEATS_FULL_MESSAGE = 'Every seat of this license is in use';

/** The heartbeat's answer where the validate decision stands as it is. */
function answer(decision: ValidationOutcome, seatsUsed: number | null, seatsMax: number | null, nextS: number): HeartbeatOutcome {
  return { success: decision.success, code: decision.code, message: decision.message, seats_used: seatsUsed, seats_max: seatsMax, next_heartbeat_s: nextS };
}

/**
 * A heartbeat's part in the validate decision: its lookup also reads this HWID's seat, and once the
 * license is known the seat settings decide whether HWID slots apply. Methods of one object rather
 * than closures made per call: this runs on every heartbeat.
 */
class SeatCheck implements ValidateLicenseOptions {
  seats: SeatSettings | null = null;
  seat: SeatSnapshot | undefined;

  constructor(
    private readonly deps: Deps,
    private readonly app: ClientApplication,
    private readonly hwid: string,
    private readonly now: Date,
  ) {}

  lookup(applicationId: number, licenseKey: string): Promise<LicenseState | null> {
    return this.deps.lookup.findWithSeat(applicationId, licenseKey, this.hwid, this.app.settings.heartbeat_interval_s, this.now);
  }

  hwidSlots(license: LicenseState): boolean {
    this.seats = seatSettingsOf(this.app, license);
    this.seat = license.seat;
    return this.seats === null;
  }
}

/**
 * The validate decision, whose one shared lookup also reads this HWID's seat. A seat that is held
 * and stays live past the usage recorder's horizon is renewed with its next flush, as `last_used`
 * is: the common heartbeat — a running machine keeping its seat — writes nothing before answering.
 * Anything else (taking a seat, a seat near its lapse) is decided at once by one seat statement.
 */
export async function heartbeatLicense(deps: Deps, app: ClientApplication, input: HeartbeatInput): Promise<HeartbeatOutcome> {
  const hwid = input.hwid.trim();
  const now = deps.clock.now();
  const check = new SeatCheck(deps, app, hwid, now);
  const decision = await validateLicense(deps, app, input, check);
  const { seats, seat } = check;
  if (!seats) return answer(decision, null, null, app.settings.heartbeat_interval_s);
  if (!decision.success || decision.licenseId === undefined) return answer(decision, null, seats.max, seats.intervalS);
  const ttlS = 2 * seats.intervalS;
  const renewedAt = seat?.renewedAt;
  // Deferred only while the license has no more live seats than its maximum: past it (a lowered
  // maximum), the seat statement decides which seats stay (keycord_seat_heartbeat, migration 0022).
  if (renewedAt && seat.live <= seats.max && renewedAt.getTime() + ttlS * 1000 - now.getTime() > deps.usage.seatRenewalHorizonMs && deps.usage.deferSeatRenewal(decision.licenseId, hwid, now)) {
    return answer(decision, seat.live, seats.max, seats.intervalS);
  }
  const row = await seatGrantsOf(deps.db).add({ licenseId: decision.licenseId, hwid, max: seats.max, ttlS, now });
  if (row === GONE) return { success: false, code: 'NOT_FOUND', message: VALIDATION_MESSAGES.NOT_FOUND, seats_used: null, seats_max: seats.max, next_heartbeat_s: seats.intervalS };
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

interface SeatRequest {
  licenseId: number;
  hwid: string;
  max: number;
  ttlS: number;
  now: Date;
}

interface SeatAnswer {
  granted: boolean;
  seats_used: number;
}

/** A request of the batch whose license was deleted after its lookup read it: answered NOT_FOUND. */
const GONE = 'gone' as const;

const SEATS_CALL = 'select i, granted, seats_used from keycord_seat_heartbeats($1::int[], $2::text[], $3::int[], $4::timestamptz, $5::int[])';

/**
 * Seat decisions of the heartbeats that arrive together, made in one call to
 * keycord_seat_heartbeats: one round trip and one commit for the lot instead of one each. The call
 * takes one time, the latest the entries read: they arrived within the same turn.
 *
 * A failed call is one statement rolled back, so it is run again (each entry's seat decision is
 * made afresh), rather than failing every heartbeat of the batch, other tenants' included. A
 * foreign-key violation: a license deleted after its lookup (the deletion has committed), left out
 * of the next call and answered NOT_FOUND. A deadlock: what is left of lock-order cycles (seat
 * statements of one license all take its advisory lock first, migration 0022), such as a license
 * deletion's cascade meeting a grant's insert (the deletion locks the license row, then its seats;
 * the insert, the other way round).
 */
async function decideSeats(db: Db, batch: SeatRequest[]): Promise<(SeatAnswer | typeof GONE | undefined)[]> {
  const answers: (SeatAnswer | typeof GONE | undefined)[] = new Array(batch.length);
  let entries = batch.map((request, n) => ({ request, n }));
  for (let attempt = 1; ; attempt++) {
    if (entries.length === 0) return answers;
    const requests = entries.map((e) => e.request);
    try {
      const rows = await db.query<{ i: number; granted: boolean; seats_used: number }>(SEATS_CALL, [
        requests.map((r) => r.licenseId),
        requests.map((r) => r.hwid),
        requests.map((r) => r.max),
        latestNow(requests).toISOString(),
        requests.map((r) => r.ttlS),
      ]);
      for (const r of rows) {
        const entry = entries[Number(r.i) - 1];
        if (entry) answers[entry.n] = { granted: r.granted === true, seats_used: r.seats_used };
      }
      return answers;
    } catch (err) {
      const state = sqlStateOf(err);
      if (attempt >= 3 || (state !== FOREIGN_KEY_VIOLATION && state !== DEADLOCK_DETECTED)) throw err;
      if (state === FOREIGN_KEY_VIOLATION) {
        const present = await db.query<{ id: number }>('select id from licenses where id = any($1::int[])', [[...new Set(requests.map((r) => r.licenseId))]]);
        const ids = new Set(present.map((r) => Number(r.id)));
        for (const e of entries) if (!ids.has(e.request.licenseId)) answers[e.n] = GONE;
        entries = entries.filter((e) => ids.has(e.request.licenseId));
      }
    }
  }
}

const seatGrantsOf = turnBatchPerDatabase(decideSeats);

/**
 * For an offline lease of a license with floating seats: this HWID's seat, renewed if held, taken
 * if one is free (the heartbeat's seat statement, shared with the heartbeats of the same turn).
 * `granted` false: every seat is in use; null: the license was deleted meanwhile.
 */
export async function holdSeat(deps: Deps, licenseId: number, hwid: string, seats: SeatSettings, now: Date): Promise<{ granted: boolean } | null> {
  const row = await seatGrantsOf(deps.db).add({ licenseId, hwid, max: seats.max, ttlS: 2 * seats.intervalS, now });
  return row === GONE ? null : { granted: row?.granted === true };
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
