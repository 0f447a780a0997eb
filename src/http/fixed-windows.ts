import { createHash } from 'node:crypto';
import { ArrivalOrderedMap } from '../core/arrival-ordered-map.js';

/** Longer than any `<id>|<IP address>` key; anything longer is stored by its digest. */
const MAX_KEY_LENGTH = 96;

/**
 * `key`, or its SHA-256 when it is longer than a real one: an address can be client text (the
 * X-Forwarded-For header behind TRUST_PROXY), and no client may make a counter key large.
 */
export const compactKey = (key: string): string => (key.length > MAX_KEY_LENGTH ? createHash('sha256').update(key).digest('base64') : key);

interface Window {
  count: number;
  endsAt: number;
}

/**
 * Fixed-window hit counters for rate limits, in this process. Keys derive from what clients
 * send (addresses, ids), so the map is bounded whatever they send: at most `maxKeys` windows,
 * each key at most a digest long. Windows sit in the map in the order they opened, so expired
 * ones are dropped from the front as new ones open (no full sweeps), and at the cap the oldest
 * window is evicted — which can only ever forgive a client, never block one wrongly. The order
 * is kept beside the map (ArrivalOrderedMap): with a plain Map, each window opened walked past
 * every window dropped before it since the map was last rehashed.
 */
export class FixedWindows {
  private readonly windows = new ArrivalOrderedMap<string, Window>();

  constructor(readonly maxKeys: number) {}

  hit(key: string, windowMs: number, now = Date.now()): { count: number; resetMs: number } {
    const k = compactKey(key);
    let w = this.windows.get(k);
    if (!w || w.endsAt <= now) {
      this.windows.dropOldestWhile((open) => open.endsAt <= now);
      // A key whose window closed opens its new one at the back, so the order stays the opening order.
      if (this.windows.size >= this.maxKeys && !this.windows.has(k)) this.windows.deleteOldest();
      w = { count: 0, endsAt: now + windowMs };
      this.windows.set(k, w);
    }
    w.count++;
    return { count: w.count, resetMs: w.endsAt - now };
  }

  /** The hits of `key`'s open window (0 if none) and when it ends, without counting one. */
  peek(key: string, now = Date.now()): { count: number; resetMs: number } {
    const w = this.windows.get(compactKey(key));
    return w && w.endsAt > now ? { count: w.count, resetMs: w.endsAt - now } : { count: 0, resetMs: 0 };
  }

  get size(): number {
    return this.windows.size;
  }
}
