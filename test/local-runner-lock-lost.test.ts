import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunnerLock } from '../src/jobs/local/runner-lock.js';
import { startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

/**
 * The local provider's runner lock (runner-lock.ts) is a Postgres advisory lock held by a
 * transaction kept open; Postgres can drop that connection (a restart, a failover, an operator's
 * pg_terminate_backend). The process must notice, stand by and take the lock again — never crash.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ jobs: 'producer' });
});
afterAll(() => h?.close());

/** The backend holding this database's advisory locks (the runner lock: the only one taken here). */
const lockHolder = async () =>
  (await h.deps.db.query<{ pid: number }>(`select l.pid from pg_locks l join pg_database d on d.oid = l.database where l.locktype = 'advisory' and d.datname = current_database()`))[0]?.pid;

describe('the local runner lock, when Postgres drops the connection that holds it', () => {
  it('lets the jobs go, takes the lock again on a new connection, and raises nothing uncaught', async () => {
    const uncaught: unknown[] = [];
    const record = (err: unknown) => void uncaught.push(err);
    process.on('uncaughtException', record);
    process.on('unhandledRejection', record);
    const lock = new RunnerLock(h.deps, `lost-${randomUUID()}`, { retryMs: 200 });
    try {
      lock.start();
      await waitFor(() => lock.holds, 5_000, 'the lock to be taken');
      const first = await lockHolder();
      expect(first).toBeDefined();
      const tenure = lock.tenure;
      expect(await lock.confirm(tenure)).toBe(true);
      await h.deps.db.query('select pg_terminate_backend($1, 5000)', [first]);
      // Asked of the database: false at once, before the lock's own check (every second) notices.
      expect(await lock.confirm(tenure)).toBe(false);
      await waitFor(() => !lock.holds, 5_000, 'the lost lock to be noticed');
      await waitFor(async () => lock.holds && (await lockHolder()) !== first, 5_000, 'the lock taken again on another connection');
      // Past the dropped attempt's next confirmation (every second): it must not query its dead connection.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(uncaught).toEqual([]);
      expect(lock.holds).toBe(true);
      // Taken again: work begun before the break is not confirmed; work begun since is.
      expect(await lock.confirm(tenure)).toBe(false);
      expect(await lock.confirm(lock.tenure)).toBe(true);
    } finally {
      await lock.stop();
      process.off('uncaughtException', record);
      process.off('unhandledRejection', record);
    }
    expect(await lockHolder()).toBeUndefined();
  });
});
