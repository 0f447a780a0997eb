import { causeChain } from '../cause-chain.js';

/**
 * The SQLSTATE of the database error behind `err` (postgres.js and PGlite put it in `code`; drizzle
 * wraps it as the `cause` of its DrizzleQueryError), or undefined. A SQLSTATE is five digits or
 * capitals with at least one digit, which tells it from Node's codes (EPIPE, ECONNRESET).
 */
export function sqlStateOf(err: unknown): string | undefined {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(?=.*\d)[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** Class 22, data exception: a value the database cannot take (NUL in text, out of range, bad syntax). */
export const isDataException = (err: unknown) => sqlStateOf(err)?.startsWith('22') === true;

/** 23503: a row names one that is not there (deleted meanwhile, or never was). */
export const FOREIGN_KEY_VIOLATION = '23503';
export const isForeignKeyViolation = (err: unknown) => sqlStateOf(err) === FOREIGN_KEY_VIOLATION;

/** 40P01: Postgres broke a deadlock by failing this statement (the other side went through). */
export const DEADLOCK_DETECTED = '40P01';

/** 40001: a serializable transaction lost to a concurrent one. */
export const SERIALIZATION_FAILURE = '40001';
