/**
 * Rows per multi-row INSERT. drizzle sends a parameter per column per row and builds the statement
 * by spreading its parts into one call: past some tens of thousands of rows that overflows the
 * stack, and past 65,535 parameters Postgres refuses the statement. Callers that may insert that
 * many (a refund bans every key of an order, each with its audit entry and event) insert in runs of
 * this many, in the same transaction.
 */
const ROWS_PER_INSERT = 1000;

/** `rows` in consecutive runs of at most ROWS_PER_INSERT. */
export function insertRuns<T>(rows: readonly T[]): T[][] {
  const runs: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) runs.push(rows.slice(i, i + ROWS_PER_INSERT));
  return runs;
}
