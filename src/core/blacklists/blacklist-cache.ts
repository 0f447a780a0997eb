import type { Db } from '../../db/client.js';
import type { ClientApplication } from '../applications/application-cache.js';
import { clientAddress, normalizeIp } from './ip-range.js';
import { RangeSet } from './range-set.js';

/** One application's blacklist, as the client path asks it. */
export class LoadedBlacklist {
  constructor(
    readonly version: number,
    private readonly hwids: ReadonlySet<string>,
    private readonly v4: RangeSet<number>,
    private readonly v6: RangeSet<bigint>,
  ) {}

  get empty(): boolean {
    return this.hwids.size === 0 && this.v4.size === 0 && this.v6.size === 0;
  }

  /** Whether the HWID or the client address is on the list. */
  blocks(hwid: string | null | undefined, ip: string | null | undefined): boolean {
    if (this.empty) return false;
    if (hwid && this.hwids.has(hwid)) return true;
    if (!ip || (this.v4.size === 0 && this.v6.size === 0)) return false;
    const address = clientAddress(ip);
    if (address === null) return false;
    return typeof address === 'number' ? this.v4.has(address) : this.v6.has(address);
  }
}

const NOTHING = new LoadedBlacklist(0, new Set(), new RangeSet<number>([]), new RangeSet<bigint>([]));

/**
 * Every application's blacklist, held in process so the check costs validate no database round
 * trip. Coherence across processes rides on the application cache: each blacklist change bumps
 * `applications.blacklist_version` in the same transaction, the client path reads the version with
 * the application (cached at most APP_CACHE_TTL_MS), and a list held under another version is
 * reloaded (one query, once per change and process). The process that made the change invalidates
 * both caches at once. An application that never had an entry (version 0) is never loaded.
 */
export class BlacklistCache {
  private readonly lists = new Map<number, LoadedBlacklist>();
  private readonly loading = new Map<number, { version: number; list: Promise<LoadedBlacklist> }>();

  constructor(
    private readonly db: Db,
    private readonly maxApplications = 10_000,
  ) {}

  /** The list if it is held at the application's version; undefined when it must be loaded with `get`. */
  peek(app: ClientApplication): LoadedBlacklist | undefined {
    if (app.blacklistVersion === 0) return NOTHING;
    const held = this.lists.get(app.id);
    return held && held.version === app.blacklistVersion ? held : undefined;
  }

  /**
   * The list at the application's version, loaded when not held. `db`: where to load it — a check
   * running inside a transaction passes its transaction (depsInTransaction's `db`), since a load on
   * the pool would wait for a second connection while the transaction holds one: forever on the
   * embedded database, which has one. Such a load is its own, not shared with others under way.
   */
  get(app: ClientApplication, db: Db = this.db): Promise<LoadedBlacklist> {
    const held = this.peek(app);
    if (held) return Promise.resolve(held);
    if (db !== this.db) return this.load(app.id, app.blacklistVersion, db);
    // Requests arriving together share one load, of the version they were sent for.
    const inFlight = this.loading.get(app.id);
    if (inFlight && inFlight.version === app.blacklistVersion) return inFlight.list;
    const entry = { version: app.blacklistVersion, list: this.load(app.id, app.blacklistVersion) };
    const done = () => {
      if (this.loading.get(app.id) === entry) this.loading.delete(app.id);
    };
    entry.list.then(done, done);
    this.loading.set(app.id, entry);
    return entry.list;
  }

  invalidate(applicationId: number): void {
    this.lists.delete(applicationId);
  }

  private async load(applicationId: number, version: number, db: Db = this.db): Promise<LoadedBlacklist> {
    // The rows are read after the version was committed with them, so they are at least that new;
    // a newer change shows as a newer version and loads again.
    const rows = await db.query<{ type: 'hwid' | 'ip'; value: string }>('select type, value from blacklist_entries where application_id = $1', [applicationId]);
    const hwids = new Set<string>();
    const v4: { start: number; end: number }[] = [];
    const v6: { start: bigint; end: bigint }[] = [];
    for (const row of rows) {
      if (row.type === 'hwid') {
        hwids.add(row.value);
        continue;
      }
      const range = normalizeIp(row.value)?.range;
      if (range?.family === 4) v4.push(range);
      else if (range?.family === 6) v6.push(range);
    }
    const list = new LoadedBlacklist(version, hwids, new RangeSet(v4), new RangeSet(v6));
    this.lists.delete(applicationId);
    if (this.lists.size >= this.maxApplications) this.lists.delete(this.lists.keys().next().value!);
    this.lists.set(applicationId, list);
    return list;
  }
}

export const BLACKLISTED_MESSAGE = 'This device or address is blacklisted';
