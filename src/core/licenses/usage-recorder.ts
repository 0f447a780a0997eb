import type { Db } from '../../db/client.js';
import { isDataException } from '../../db/sql-state.js';
import type { Logger } from '../../log.js';

interface Use {
  at: Date;
  ip: string | null;
}

/**
 * A line of the application's validation log: identical validations (same license, code, HWID
 * and IP) within one flush interval are one line with a count and the first time — a client
 * polling its key, or a flood, does not become thousands of rows a second.
 */
export interface ValidationRecord {
  applicationId: number;
  licenseId: number | null;
  code: string;
  hwid: string | null;
  ip: string | null;
  at: Date;
  count: number;
  /** Key-sharing detection watches this license (decided at validation: `watchesSharing`). */
  watched: boolean;
}

/** Past this many distinct unwritten lines (database away for long), new ones are dropped. */
const MAX_PENDING_RECORDS = 100_000;

const DAY_MS = 86_400_000;

/** Rows of each kind per flush statement: bounds a statement's size and the locks it holds. */
const FLUSH_BATCH = 1000;

/**
 * A flush batch in one atomic statement (one round trip): the licenses' last use, the daily
 * counters, the seats' renewals and the validation log lines, each part an array parameter expanded
 * by unnest, in the function keycord_usage_flush (migration 0017), which plans them with hash and
 * merge joins off: each part joins its batch to a table by that table's key, and the planner
 * otherwise hashes a sequential scan of the table for a batch of this size wherever the table is
 * not much larger than the batch in its eyes (license_seats at 100,000 seats: 36 ms per 1,000
 * renewals that way against 11 ms probing). Times travel as text[]: postgres.js serialises text
 * and int arrays on every driver.
 */
const FLUSH_SQL = `select keycord_usage_flush($1::int[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::int[],
  $8::int[], $9::int[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int[], $15::int[], $16::text[], $17::text[])`;

/** What a flush hands to key-sharing detection: the new log lines of the licenses it watches. */
export type WatchedLines = (records: ValidationRecord[]) => Promise<void>;

/** A held floating seat's renewal, written by the next flush (see `deferSeatRenewal`). */
interface SeatRenewal {
  licenseId: number;
  hwid: string;
  at: Date;
}

/** One flush statement's share of each kind of pending usage. */
interface FlushBatch {
  ids: number[];
  counters: [string, Counter][];
  records: [string, ValidationRecord][];
  renewals: [string, SeatRenewal][];
}

const batchSize = (b: FlushBatch) => b.ids.length + b.counters.length + b.records.length + b.renewals.length;

/** The batch cut in two by row count (kinds in order): each half holds fewer rows than the batch. */
function halves(b: FlushBatch): [FlushBatch, FlushBatch] {
  let room = Math.ceil(batchSize(b) / 2);
  const cut = <T>(xs: T[]): [T[], T[]] => {
    const n = Math.min(room, xs.length);
    room -= n;
    return [xs.slice(0, n), xs.slice(n)];
  };
  const [ids1, ids2] = cut(b.ids);
  const [c1, c2] = cut(b.counters);
  const [r1, r2] = cut(b.records);
  const [s1, s2] = cut(b.renewals);
  return [
    { ids: ids1, counters: c1, records: r1, renewals: s1 },
    { ids: ids2, counters: c2, records: r2, renewals: s2 },
  ];
}

function flushParams(ids: number[], uses: Map<number, Use>, counters: Counter[], lines: ValidationRecord[], renewals: SeatRenewal[]): unknown[] {
  return [
    ids,
    ids.map((id) => isoTime(uses.get(id)!.at)),
    ids.map((id) => uses.get(id)!.ip),
    counters.map((c) => c.applicationId),
    counters.map((c) => c.day),
    counters.map((c) => c.validations),
    counters.map((c) => c.failures),
    lines.map((r) => r.applicationId),
    lines.map((r) => r.licenseId),
    lines.map((r) => r.code),
    lines.map((r) => r.hwid),
    lines.map((r) => r.ip),
    lines.map((r) => isoTime(r.at)),
    lines.map((r) => r.count),
    renewals.map((r) => r.licenseId),
    renewals.map((r) => r.hwid),
    renewals.map((r) => isoTime(r.at)),
  ];
}

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
  private records = new Map<string, ValidationRecord>();
  private renewals = new Map<string, SeatRenewal>();
  private dayStart = NaN;
  private day = '';
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private watcher: WatchedLines | undefined;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly flushMs: number,
  ) {}

  /**
   * After each flush, `watcher` gets the written lines of the watched licenses (key-sharing
   * detection); a flush resolves once it has run. Its failure is logged: the lines are written.
   */
  watch(watcher: WatchedLines): void {
    this.watcher = watcher;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  recordValidation(applicationId: number, at: Date, ok: boolean, use?: { licenseId: number; ip: string | null }, record?: Omit<ValidationRecord, 'applicationId' | 'at' | 'count'>): void {
    // This runs on every validation, so it allocates as little as it can: the record is spelled
    // out rather than spread, the day string is remembered, a license's last use is updated in place.
    if (record) {
      const key = `${applicationId}|${record.licenseId}|${record.code}|${record.ip}|${record.hwid}`;
      const line = this.records.get(key);
      if (line) line.count++;
      else if (this.records.size < MAX_PENDING_RECORDS) {
        this.records.set(key, { applicationId, licenseId: record.licenseId, code: record.code, hwid: record.hwid, ip: record.ip, at, count: 1, watched: record.watched });
      }
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

  /**
   * How long a floating seat must still have to live for its renewal to wait for a flush: two
   * flush intervals (one may fail and be retried) and 5 s to spare. A seat closer to lapsing than
   * this is renewed at once, so a renewal that waits in memory can never let its seat lapse.
   */
  get seatRenewalHorizonMs(): number {
    return 2 * this.flushMs + 5_000;
  }

  /**
   * A held seat's renewal, written with the next flush like `last_used`: a heartbeat of a seat that
   * is live and stays so past `seatRenewalHorizonMs` needs no write before its answer. Renewals
   * only move a seat's time forward (a seat released meanwhile stays released: the flush updates,
   * never inserts). False = too much is pending (database away for long): renew it now instead.
   */
  deferSeatRenewal(licenseId: number, hwid: string, at: Date): boolean {
    const key = `${licenseId}\u0000${hwid}`;
    const pending = this.renewals.get(key);
    if (pending) {
      if (pending.at < at) pending.at = at;
      return true;
    }
    if (this.renewals.size >= MAX_PENDING_RECORDS) return false;
    this.renewals.set(key, { licenseId, hwid, at });
    return true;
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
    return this.uses.size + this.counters.size + this.records.size + this.renewals.size;
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
    const renewals = this.renewals;
    if (uses.size === 0 && counters.size === 0 && records.size === 0 && renewals.size === 0) return;
    this.uses = new Map();
    this.counters = new Map();
    this.records = new Map();
    this.renewals = new Map();
    // Sorted ids: concurrent flushes from several instances lock license rows in the same order.
    const ids = [...uses.keys()].sort((a, b) => a - b);
    const cs = [...counters.entries()].sort(([, a], [, b]) => a.applicationId - b.applicationId || a.day.localeCompare(b.day));
    const lines = [...records.entries()];
    // In (license, HWID) order, as the seat grants take their rows: no deadlock between the two.
    const seats = [...renewals.entries()].sort(([, a], [, b]) => a.licenseId - b.licenseId || (a.hwid < b.hwid ? -1 : a.hwid > b.hwid ? 1 : 0));
    // One statement per batch, whatever the number of keys: a flush of thousands of distinct
    // keys is a handful of round trips, and each batch is all written or all kept (nothing twice).
    const batches = Math.max(ids.length, cs.length, lines.length, seats.length) / FLUSH_BATCH;
    const watched: ValidationRecord[] = [];
    for (let b = 0; b < batches; b++) {
      const slice = <T>(xs: T[]) => xs.slice(b * FLUSH_BATCH, (b + 1) * FLUSH_BATCH);
      await this.writeBatch({ ids: slice(ids), counters: slice(cs), records: slice(lines), renewals: slice(seats) }, uses, watched);
    }
    if (watched.length && this.watcher) {
      await this.watcher(watched).catch((err: unknown) => this.log.warn({ err }, 'key-sharing detection failed after a usage flush; it runs again with the next validations of these licenses'));
    }
  }

  /**
   * One flush statement. A connection or server failure keeps the batch for the next flush. A
   * value the database refuses (a data exception) would fail the batch on every flush, forever,
   * and hold up everyone's usage behind it: the batch is halved until the refused row is alone,
   * and that row is dropped (logged without its values). Input is checked before it is recorded,
   * so this is the last line of defence, costing nothing unless it happens.
   */
  private async writeBatch(batch: FlushBatch, uses: Map<number, Use>, watched: ValidationRecord[]): Promise<void> {
    try {
      await this.db.query(
        FLUSH_SQL,
        flushParams(
          batch.ids,
          uses,
          batch.counters.map(([, c]) => c),
          batch.records.map(([, r]) => r),
          batch.renewals.map(([, r]) => r),
        ),
      );
      for (const [, r] of batch.records) if (r.watched) watched.push(r);
    } catch (err) {
      if (!isDataException(err)) {
        this.log.warn({ err }, 'usage flush failed; keeping the data for the next flush');
        this.mergeBack(new Map(batch.ids.map((id) => [id, uses.get(id)!])), new Map(batch.counters), new Map(batch.records), new Map(batch.renewals));
      } else if (batchSize(batch) > 1) {
        for (const half of halves(batch)) await this.writeBatch(half, uses, watched);
      } else {
        this.log.error(
          { err, parts: { uses: batch.ids.length, counters: batch.counters.length, lines: batch.records.length, seats: batch.renewals.length } },
          'usage flush: the database refused a usage row; dropped it',
        );
      }
    }
  }

  private mergeBack(uses: Map<number, Use>, counters: Map<string, Counter>, records: Map<string, ValidationRecord>, renewals: Map<string, SeatRenewal>) {
    for (const r of renewals.values()) this.deferSeatRenewal(r.licenseId, r.hwid, r.at);
    for (const [key, line] of records) {
      const later = this.records.get(key);
      if (later) {
        later.count += line.count;
        later.at = line.at;
      } else if (this.records.size < MAX_PENDING_RECORDS) this.records.set(key, line);
    }
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
