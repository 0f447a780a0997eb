import { SHARING_FLAG_STATUSES, SHARING_WINDOW_KINDS } from '../../db/schema.js';

export type SharingWindowKind = (typeof SHARING_WINDOW_KINDS)[number];
// Re-exported for the doors, which do not import the schema.
export { SHARING_FLAG_STATUSES, SHARING_WINDOW_KINDS };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** How long each kind of window lasts: distinct IPs per UTC day, HWID mismatches per clock hour. */
const WINDOW_MS: Record<SharingWindowKind, number> = { ips_24h: DAY_MS, hwid_mismatches_1h: HOUR_MS };

export interface SharingWindow {
  kind: SharingWindowKind;
  start: Date;
  end: Date;
}

/**
 * The fixed window of `kind` that `at` falls in (aligned on the Unix epoch, so a UTC day or a
 * clock hour): every process computes the same one, which is what makes "once per license and
 * window" a unique key rather than a lock.
 */
export function sharingWindowOf(kind: SharingWindowKind, at: Date | number): SharingWindow {
  const length = WINDOW_MS[kind];
  const start = Math.floor(new Date(at).getTime() / length) * length;
  return { kind, start: new Date(start), end: new Date(start + length) };
}

export const windowView = (w: SharingWindow) => ({ kind: w.kind, start: w.start.toISOString(), end: w.end.toISOString() });
