import { sql, type AnyColumn, type SQL } from 'drizzle-orm';

/**
 * `column = any($1::int4[])`: a set of integer ids as one parameter. drizzle's `inArray` sends a
 * parameter per id, and Postgres takes at most 65,535 in a statement: a refund of an order of many
 * keys, a page of such orders or the statistics of a developer in that many applications failed
 * with a 500. For sets whose size a client or a store decides.
 */
export const idIn = (column: AnyColumn, ids: readonly number[]): SQL => sql`${column} = any(${sql.param(ids)}::int4[])`;
