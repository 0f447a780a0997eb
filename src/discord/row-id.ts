import { INT4_MAX } from '../http/schemas.js';

/**
 * A database id that arrives as text (an autocomplete or select value, a part of a custom id, an
 * id typed by hand): decimal digits without a leading zero, within Postgres's integer, as the HTTP
 * routes take ids. `Number()` alone would take `1e3` or `0x1`, and an id past int4 would fail in
 * the query (a generic error, logged as a fault) instead of being refused as input; null for all
 * of those.
 */
export function rowIdOf(text: string | undefined): number | null {
  return text !== undefined && /^[1-9]\d{0,9}$/.test(text) && Number(text) <= INT4_MAX ? Number(text) : null;
}
