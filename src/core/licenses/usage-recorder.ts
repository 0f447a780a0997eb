import type { Db } from '../../db/client.js';
import type { Logger } from '../../log.js';

interface Use {
  at: Date;
  ip: string | null;
}

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

  recordValidation(applicationId: number, at: Date, ok: boolean, use?: { licenseId: number; ip: string | null }): void {
    const day = at.toISOString().slice(0, 10);
    const key = `${applicationId}:${day}`;
    let c = this.counters.get(key);
    if (!c) this.counters.set(key, (c = { applicationId, day, validations: 0, failures: 0 }));
    c.validations++;
    if (!ok) c.failures++;
    if (use) this.uses.set(use.licenseId, { at, ip: use.ip });
  }

  get pending(): number {
    return this.uses.size + this.counters.size;
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
    if (uses.size === 0 && counters.size === 0) return;
    this.uses = new Map();
    this.counters = new Map();
    try {
      if (uses.size > 0) {
        // Sorted ids: concurrent flushes from several instances lock rows in the same order.
        const ids = [...uses.keys()].sort((a, b) => a - b);
        await this.db.query(
          // Times travel as text[]: postgres.js serialises text and int arrays on every driver.
          `update licenses l set last_used = u.at::timestamptz, ip_address = u.ip
           from unnest($1::int[], $2::text[], $3::text[]) as u(id, at, ip)
           where l.id = u.id and (l.last_used is null or l.last_used < u.at::timestamptz)`,
          [ids, ids.map((id) => uses.get(id)!.at.toISOString()), ids.map((id) => uses.get(id)!.ip)],
        );
      }
      if (counters.size > 0) {
        const cs = [...counters.values()].sort((a, b) => a.applicationId - b.applicationId || a.day.localeCompare(b.day));
        await this.db.query(
          `insert into daily_counters (application_id, day, validations, failures)
           select a, d::date, v, f from unnest($1::int[], $2::text[], $3::int[], $4::int[]) as c(a, d, v, f)
           on conflict (application_id, day) do update
             set validations = daily_counters.validations + excluded.validations,
                 failures = daily_counters.failures + excluded.failures`,
          [cs.map((c) => c.applicationId), cs.map((c) => c.day), cs.map((c) => c.validations), cs.map((c) => c.failures)],
        );
      }
    } catch (err) {
      this.log.warn({ err }, 'usage flush failed; keeping the data for the next flush');
      this.mergeBack(uses, counters);
    }
  }

  private mergeBack(uses: Map<number, Use>, counters: Map<string, Counter>) {
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
