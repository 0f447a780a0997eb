import type { KeyObject } from 'node:crypto';
import type { Db } from '../../db/client.js';
import type { SecretBox } from '../crypto.js';
import { privateKeyFromDer } from '../crypto.js';
import { mergeSettings, type ApplicationSettings } from './application-settings.js';

/** What the client API needs of an application, decrypted once and kept warm. */
export interface ClientApplication {
  id: number;
  appId: string;
  settings: ApplicationSettings;
  signingKey: KeyObject;
  secret: string;
}

interface Entry {
  value: ClientApplication | null;
  expiresAt: number;
  pending?: Promise<ClientApplication | null>;
  /** `value` as a settled promise, made on the first hit. */
  settled?: Promise<ClientApplication | null>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Client requests identify their application by `app_id` on every call; looking it up (and
 * decrypting its signing key) each time would double the hot path's database work. Entries live
 * `ttlMs`, so a change made on another instance shows within that; this instance's own changes
 * invalidate at once. Unknown ids are cached too, so a flood of bad ids costs one query each.
 */
export class ApplicationCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(appId: string): Promise<ClientApplication | null> {
    const key = appId.toLowerCase();
    // A client request asks several times (encryption check, rate limit, route), so a hit is
    // cheap: looked up first (only well-formed ids are ever stored, so it needs no format check)
    // and answered with the entry's one settled promise rather than a new one per call.
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > Date.now()) return (hit.settled ??= Promise.resolve(hit.value));
    if (!UUID.test(key)) return Promise.resolve(null);
    if (hit?.pending) return hit.pending;
    const pending = this.load(key).then(
      (value) => {
        this.remember(key, { value, expiresAt: Date.now() + this.ttlMs });
        return value;
      },
      (err) => {
        this.entries.delete(key);
        throw err;
      },
    );
    this.entries.set(key, { value: hit?.value ?? null, expiresAt: 0, pending });
    return pending;
  }

  /**
   * The cached answer without waiting: the application (or null for an id known not to exist),
   * or undefined when it must be loaded with `get`.
   */
  peek(appId: string): ClientApplication | null | undefined {
    const hit = this.entries.get(appId.toLowerCase());
    return hit && hit.expiresAt > Date.now() ? hit.value : undefined;
  }

  invalidate(appId: string): void {
    this.entries.delete(appId.toLowerCase());
  }

  private remember(key: string, entry: Entry) {
    if (this.entries.size >= this.maxEntries) {
      // Drop the oldest insertion; Map iterates in insertion order.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, entry);
  }

  private async load(appId: string): Promise<ClientApplication | null> {
    const [row] = await this.db.query<{ id: number; app_id: string; settings: unknown; secret_enc: string; private_key_enc: string }>(
      'select id, app_id, settings, secret_enc, private_key_enc from applications where app_id = $1',
      [appId],
    );
    if (!row) return null;
    return {
      id: row.id,
      appId: row.app_id,
      settings: mergeSettings(row.settings, undefined),
      signingKey: privateKeyFromDer(this.box.open(row.private_key_enc)),
      secret: this.box.open(row.secret_enc).toString('utf8'),
    };
  }
}
