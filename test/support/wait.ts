import type { Db } from '../../src/db/client.js';

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** How many statements of this database wait on a lock right now (a request under test reached a held row). */
async function lockWaiters(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
  return row!.n;
}

/** Waits until at least `n` statements of this database wait on a lock; fails after 10 s. */
export const untilLockWaiters = (db: Db, n: number, what = `${n} statement(s) waiting on a lock`) => waitFor(async () => (await lockWaiters(db)) >= n, 10_000, what);
