import type { Db } from '../../db/client.js';
import type { LicenseStatus } from '../../db/schema.js';

/** The part of a license (and its plan) that validation decides on. */
export interface LicenseState {
  id: number;
  licenseKey: string;
  status: LicenseStatus;
  hwids: string[];
  activatedAt: Date | null;
  expiresAt: Date | null;
  durationDays: number;
  planId: number;
  planName: string;
  planDurationDays: number;
  planMaxHwids: number | null;
  /** Floating-seat overrides of the plan (null = the application's setting). */
  planMaxConcurrent: number | null;
  planHeartbeatIntervalS: number | null;
  /** The plan's longest offline lease in hours (0 = off; null = the application's setting). */
  planMaxOfflineHours: number | null;
}

interface Waiting {
  applicationId: number;
  licenseKey: string;
  resolve: (s: LicenseState | null) => void;
  reject: (e: unknown) => void;
}

/** Exported so the validation bench can print its plan (it must stay an index probe per key). */
export const LICENSE_LOOKUP_SQL = `select q.i::int as i, l.id, l.license_key, l.status, l.hwids, l.activated_at, l.expires_at, l.duration_days,
  p.id as plan_id, p.name as plan_name, p.duration_days as plan_duration_days, p.max_hwids as plan_max_hwids,
  p.max_concurrent as plan_max_concurrent, p.heartbeat_interval_s as plan_heartbeat_interval_s, p.max_offline_hours as plan_max_offline_hours
from unnest($1::int[], $2::text[]) with ordinality as q(application_id, license_key, i)
join licenses l on l.application_id = q.application_id and l.license_key = q.license_key
join plans p on p.id = l.plan_id`;

interface Row {
  i: number;
  id: number;
  license_key: string;
  status: LicenseStatus;
  hwids: string[];
  activated_at: Date | string | null;
  expires_at: Date | string | null;
  duration_days: number;
  plan_id: number;
  plan_name: string;
  plan_duration_days: number;
  plan_max_hwids: number | null;
  plan_max_concurrent: number | null;
  plan_heartbeat_interval_s: number | null;
  plan_max_offline_hours: number | null;
}

const toDate = (v: Date | string | null) => (v === null ? null : v instanceof Date ? v : new Date(v));

/**
 * Validation's one database read. Lookups that arrive in the same turn of the event loop share
 * one query (an index probe per key), which keeps the database round trips per request below one
 * under load. Reads are never cached: a ban or reset is seen by the very next validation.
 */
export class LicenseLookup {
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
  ) {}

  find(applicationId: number, licenseKey: string): Promise<LicenseState | null> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ applicationId, licenseKey, resolve, reject });
      if (this.waiting.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush() {
    this.scheduled = false;
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    this.db
      .query<Row>(LICENSE_LOOKUP_SQL, [batch.map((w) => w.applicationId), batch.map((w) => w.licenseKey)])
      .then((rows) => {
        const found = new Map<number, LicenseState>();
        for (const r of rows) found.set(Number(r.i), toState(r));
        batch.forEach((w, index) => w.resolve(found.get(index + 1) ?? null));
      })
      .catch((err) => batch.forEach((w) => w.reject(err)));
  }
}

function toState(r: Row): LicenseState {
  return {
    id: r.id,
    licenseKey: r.license_key,
    status: r.status,
    hwids: r.hwids,
    activatedAt: toDate(r.activated_at),
    expiresAt: toDate(r.expires_at),
    durationDays: r.duration_days,
    planId: r.plan_id,
    planName: r.plan_name,
    planDurationDays: r.plan_duration_days,
    planMaxHwids: r.plan_max_hwids,
    planMaxConcurrent: r.plan_max_concurrent,
    planHeartbeatIntervalS: r.plan_heartbeat_interval_s,
    planMaxOfflineHours: r.plan_max_offline_hours,
  };
}

export const stateFromRow = toState;
export type LicenseStateRow = Row;
