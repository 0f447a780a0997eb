import type { Db } from '../../db/client.js';
import type { Logger } from '../../log.js';

interface Use {
  at: Date;
  ip: string | null;
}

/** One validation, for the application's validation log. */
export interface ValidationRecord {
  applicationId: number;
  licenseId: number | null;
  code: string;
  hwid: string | null;
  ip: string | null;
  at: Date;
}

/** Past this many unwritten records (database away for long), the oldest are dropped. */
const MAX_PENDING_RECORDS = 100_000;

const DAY_MS = 86_400_000;

/**
 * `toISOString`, remembering the last answer: a flush converts thousands of times that arrive in
 * order, many within the same millisecond.
 */
const isoTime = (() => {
  let lastMs = NaN;
  let lastIso = '';
  return (at: Date) => {
    const ms = at.getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = at.toISOString();
    }
    return lastIso;
  };
})();

interface Counter {
  applicationId: number;
  day: string;
  validations: number;
  failures: number;
}

/**
 * Validation side effects that change no license state — `last_used`, `ip_address`, the daily
 * counters — gathered in memory and written in one batch every `flushMs`. A failed flush keeps its
 * data for the next one. At worst a crash loses one interval of these, never a state change.
 */
export class UsageRecorder {
  private uses = new Map<number, Use>();
  private counters = new Map<string, Counter>();
  private records: ValidationRecord[] = [];
  private dayStart = NaN;
  private day = '';
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly flushMs: number,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  recordValidation(applicationId: number, at: Date, ok: boolean, use?: { licenseId: number; ip: string | null }, record?: Omit<ValidationRecord, 'applicationId' | 'at'>): void {
    // This runs on every validation, so it allocates as little as it can: the record is spelled
    // out rather than spread, the day string is remembered, a license's last use is updated in place.
    if (record) {
      if (this.records.length >= MAX_PENDING_RECORDS) this.records.shift();
      this.records.push({ applicationId, licenseId: record.licenseId, code: record.code, hwid: record.hwid, ip: record.ip, at });
    }
    const day = this.dayOf(at);
    const key = `${applicationId}:${day}`;
    let c = this.counters.get(key);
    if (!c) this.counters.set(key, (c = { applicationId, day, validations: 0, failures: 0 }));
    c.validations++;
    if (!ok) c.failures++;
    if (use) {
      // Safe to update in place: a flush takes the whole map away before it reads any of it.
      const last = this.uses.get(use.licenseId);
      if (last) {
        last.at = at;
        last.ip = use.ip;
      } else this.uses.set(use.licenseId, { at, ip: use.ip });
    }
  }

  /** The UTC day (`YYYY-MM-DD`) of `at`, computed once per day rather than once per call. */
  private dayOf(at: Date): string {
    const t = at.getTime();
    if (!(t >= this.dayStart && t < this.dayStart + DAY_MS)) {
      this.dayStart = Math.floor(t / DAY_MS) * DAY_MS;
      this.day = new Date(this.dayStart).toISOString().slice(0, 10);
    }
    return this.day;
  }

  get pending(): number {
    return this.uses.size + this.counters.size + this.records.length;
  }

  /** Writes what has gathered; concurrent callers share the flush in progress. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const uses = this.uses;
    const counters = this.counters;
    const records = this.records;
    if (uses.size === 0 && counters.size === 0 && records.length === 0) return;
    this.uses = new Map();
    this.counters = new Map();
    this.records = [];
    // Each part is written on its own, and only a part that failed is kept for the next flush,
    // so nothing is counted twice.
    if (uses.size > 0) {
      // Sorted ids: concurrent flushes from several instances lock rows in the same order.
      const ids = [...uses.keys()].sort((a, b) => a - b);
      await this.attempt(
        () =>
          // Times travel as text[]: postgres.js serialises text and int arrays on every driver.
          this.db.query(
            `update licenses l set last_used = u.at::timestamptz, ip_address = u.ip
             from unnest($1::int[], $2::text[], $3::text[]) as u(id, at, ip)
             where l.id = u.id and (l.last_used is null or l.last_used < u.at::timestamptz)`,
            [ids, ids.map((id) => isoTime(uses.get(id)!.at)), ids.map((id) => uses.get(id)!.ip)],
          ),
        () => this.mergeBack(uses, new Map(), []),
      );
    }
    if (counters.size > 0) {
      const cs = [...counters.values()].sort((a, b) => a.applicationId - b.applicationId || a.day.localeCompare(b.day));
      await this.attempt(
        () =>
          this.db.query(
            `insert into daily_counters (application_id, day, validations, failures)
             select a, d::date, v, f from unnest($1::int[], $2::text[], $3::int[], $4::int[]) as c(a, d, v, f)
             on conflict (application_id, day) do update
               set validations = daily_counters.validations + excluded.validations,
                   failures = daily_counters.failures + excluded.failures`,
            [cs.map((c) => c.applicationId), cs.map((c) => c.day), cs.map((c) => c.validations), cs.map((c) => c.failures)],
          ),
        () => this.mergeBack(new Map(), counters, []),
      );
    }
    if (records.length > 0) {
      await this.attempt(
        () =>
          this.db.query(
            `insert into validation_logs (application_id, license_id, code, hwid, ip, created_at)
             select a, l, c, h, i, t::timestamptz
             from unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[]) as r(a, l, c, h, i, t)`,
            [
              records.map((r) => r.applicationId),
              records.map((r) => r.licenseId),
              records.map((r) => r.code),
              records.map((r) => r.hwid),
              records.map((r) => r.ip),
              records.map((r) => isoTime(r.at)),
            ],
          ),
        () => this.mergeBack(new Map(), new Map(), records),
      );
    }
  }

  private async attempt(write: () => Promise<unknown>, keep: () => void) {
    try {
      await write();
    } catch (err) {
      this.log.warn({ err }, 'usage flush failed; keeping the data for the next flush');
      keep();
    }
  }

  private mergeBack(uses: Map<number, Use>, counters: Map<string, Counter>, records: ValidationRecord[]) {
    this.records = [...records, ...this.records].slice(-MAX_PENDING_RECORDS);
    for (const [id, use] of uses) {
      const newer = this.uses.get(id);
      if (!newer || newer.at < use.at) this.uses.set(id, use);
    }
    for (const [key, c] of counters) {
      const now = this.counters.get(key);
      if (now) {
        now.validations += c.validations;
        now.failures += c.failures;
      } else this.counters.set(key, c);
    }
  }
}
