import { z } from 'zod';
import { INT4_MAX } from '../db/int4.js';

/** Ids are Postgres `integer` columns. */
export { INT4_MAX };

/**
 * A positive integer written in a path or query string: decimal digits only. `Number()` and
 * `z.coerce` would also read `0x10`, `1e1`, `+2`, ` 2` or `1.0` as numbers, so `DELETE
 * /api/licenses/0x10` would act on license 16; here each of those is a 400.
 */
export function positiveIntegerText(max: number, fallback?: number) {
  const digits = z.string().regex(/^[1-9][0-9]*$/, 'decimal digits only, without sign, spaces or leading zeros');
  // The default goes on the text side, so the OpenAPI document shows it next to the pattern.
  const text = fallback === undefined ? digits : digits.default(String(fallback));
  return text.transform(Number).pipe(z.number().max(max));
}

/** An id in a path or query string; an id nobody has is then a 404. */
export const id = positiveIntegerText(INT4_MAX);
export const idParams = z.object({ id });

/**
 * An id of a `bigserial` row (webhook deliveries) in a path or query string: past the integer range
 * once the service has sent two billion of them, and read as a JavaScript number up to 2^53 - 1
 * (the column's number mode), beyond which it is a 400 too.
 */
export const bigId = positiveIntegerText(Number.MAX_SAFE_INTEGER);

/** An id in a JSON body: a JSON number that is an integer; `true` or `"1"` are not ids. */
export const bodyId = z.number().int().min(1).max(INT4_MAX);

/** Bounds that both JavaScript dates and Postgres `timestamptz` can hold and print back. */
const EARLIEST_TIME = Date.UTC(1970, 0, 1);
const LATEST_TIME = Date.UTC(10_000, 0, 1) - 1;

/**
 * An ISO-8601 date-time with offset, between 1970 and the end of 9999 once the offset is
 * applied. The ISO grammar alone admits year 0000 (no such year in Postgres) and
 * 9999-12-31T23:59:59-14:00 (year 10000 in UTC, which JavaScript prints as `+010000-…`).
 */
export const dateTime = z.iso.datetime({ offset: true }).refine((text) => {
  const time = Date.parse(text);
  return time >= EARLIEST_TIME && time <= LATEST_TIME;
}, 'a time between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z');
