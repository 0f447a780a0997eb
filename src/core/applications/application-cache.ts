import type { KeyObject } from 'node:crypto';
import type { Db } from '../../db/client.js';
import type { SecretBox } from '../crypto.js';
import { privateKeyFromDer } from '../crypto.js';
import { mergeSettings, type ApplicationSettings } from './application-settings.js';
import { ArrivalOrderedMap } from '../arrival-ordered-map.js';

/** What the client API needs of an application, decrypted once and kept warm. */
export interface ClientApplication {
  id: number;
  appId: string;
  settings: ApplicationSettings;
  signingKey: KeyObject;
  secret: string;
  /** Which blacklist version this copy was read with (see BlacklistCache). */
  blacklistVersion: number;
}

interface Entry {
  value: ClientApplication;
  expiresAt: number;
  /** `value` as a settled promise, made on the first hit. */
  settled?: Promise<ClientApplication | null>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` has the shape of an `app_id`; checked before client text reaches any map. */
export const isAppId = (value: string): boolean => value.length === 36 && UUID.test(value);

const NONE: Promise<ClientApplication | null> = Promise.resolve(null);

/**
 * Client requests identify their application by `app_id` on every call; looking it up (and
 * decrypting its signing key) each time would double the hot path's database work. Entries live
 * `ttlMs`, so a change made on another instance shows within that; this instance's own changes
 * invalidate at once. Unknown ids are cached too, so a flood of bad ids costs one query each —
 * in a map of their own, so such a flood can never push the real applications out. Only
 * well-formed ids are ever looked up or stored, and every map is bounded: `maxEntries`
 * applications, `maxMisses` unknown ids, and loads in flight (one per request being served).
 */
export class ApplicationCache {
  // Oldest first, given up cheaply at the caps (arrival-ordered-map.ts): unknown ids are client text.
  private readonly entries = new ArrivalOrderedMap<string, Entry>();
  private readonly misses = new ArrivalOrderedMap<string, number>();
  private readonly loading = new Map<string, Promise<ClientApplication | null>>();

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly maxMisses = 10_000,
  ) {}

  get(appId: string): Promise<ClientApplication | null> {
    if (appId.length !== 36) return NONE;
    const key = appId.toLowerCase();
    // A client request asks several times (encryption check, rate limit, route), so a hit is
    // cheap: looked up first (only well-formed ids are ever stored, so it needs no format check)
    // and answered with the entry's one settled promise rather than a new one per call.
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return (hit.settled ??= Promise.resolve(hit.value));
    if ((this.misses.get(key) ?? 0) > now) return NONE;
    if (!UUID.test(key)) return NONE;
    const inFlight = this.loading.get(key);
    if (inFlight) return inFlight;
    // A load `invalidate` dropped from `loading` read the application before the change: it
    // answers the requests that joined it (they came before the change) but is not remembered.
    const pending: Promise<ClientApplication | null> = this.load(key).then(
      (value) => {
        if (this.loading.get(key) === pending) {
          this.loading.delete(key);
          this.remember(key, value);
        }
        return value;
      },
      (err) => {
        if (this.loading.get(key) === pending) this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, pending);
    return pending;
  }

  /**
   * The cached answer without waiting: the application (or null for an id known not to exist),
   * or undefined when it must be loaded with `get`.
   */
  peek(appId: string): ClientApplication | null | undefined {
    if (appId.length !== 36) return null;
    const key = appId.toLowerCase();
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value;
    if ((this.misses.get(key) ?? 0) > now) return null;
    return UUID.test(key) ? undefined : null;
  }

  /**
   * Forgets the application after a change to it (settings, pause, blacklist), including a load in
   * flight: that load may have read the row before the change committed, and would otherwise be
   * remembered for a whole TTL. Requests from now on read it afresh.
   */
  invalidate(appId: string): void {
    const key = appId.toLowerCase();
    this.entries.delete(key);
    this.misses.delete(key);
    this.loading.delete(key);
  }

  /** How many ids each map holds: the applications, the unknown ids, the loads in flight. */
  get sizes(): { applications: number; unknown: number; loading: number } {
    return { applications: this.entries.size, unknown: this.misses.size, loading: this.loading.size };
  }

  private remember(key: string, value: ClientApplication | null) {
    const expiresAt = Date.now() + this.ttlMs;
    this.entries.delete(key);
    this.misses.delete(key);
    if (value) {
      if (this.entries.size >= this.maxEntries) this.entries.deleteOldest();
      this.entries.set(key, { value, expiresAt });
    } else {
      if (this.misses.size >= this.maxMisses) this.misses.deleteOldest();
      this.misses.set(key, expiresAt);
    }
  }

  private async load(appId: string): Promise<ClientApplication | null> {
    const [row] = await this.db.query<{ id: number; app_id: string; settings: unknown; secret_enc: string; private_key_enc: string; blacklist_version: number }>(
      'select id, app_id, settings, secret_enc, private_key_enc, blacklist_version from applications where app_id = $1',
      [appId],
    );
    if (!row) return null;
    return {
      id: row.id,
      appId: row.app_id,
      settings: mergeSettings(row.settings, undefined),
      signingKey: privateKeyFromDer(this.box.open(row.private_key_enc)),
      secret: this.box.open(row.secret_enc).toString('utf8'),
      blacklistVersion: row.blacklist_version,
    };
  }
}
