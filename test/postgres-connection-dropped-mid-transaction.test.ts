import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

/**
 * A transaction whose connection drops while a statement is in flight (a Postgres restart, a
 * failover, an administrator's pg_terminate_backend): the transaction fails with
 * CONNECTION_CLOSED and the process goes on. postgres.js 3.4.9 then wrote the transaction's own
 * ROLLBACK to the closed socket from a setImmediate callback — an uncaught TypeError that exited
 * the whole process (porsager/postgres#1208); patches/postgres+3.4.9.patch guards that write.
 */
let h: Harness;
const uncaught: unknown[] = [];
const record = (err: unknown) => uncaught.push(err);
beforeAll(async () => {
  h = await startHarness();
  process.on('uncaughtException', record);
});
afterAll(async () => {
  process.off('uncaughtException', record);
  await h?.close();
});

describe('a connection dropped in the middle of a transaction', () => {
  it('fails that transaction only: nothing is thrown past it, and the pool answers after', async () => {
    const killer = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      let pid: number | undefined;
      const tx = h.deps.db.orm.transaction(async (t) => {
        const [row] = (await t.execute(sql`select pg_backend_pid() as pid`)) as unknown as { pid: number }[];
        pid = row!.pid;
        await t.execute(sql`select pg_sleep(5)`);
      });
      const settled = tx.then(
        () => 'committed',
        (err: { code?: string }) => err.code,
      );
      await waitFor(() => pid !== undefined, 5_000, 'the transaction to start');
      await killer`select pg_terminate_backend(${pid!})`;
      expect(await settled).toBe('CONNECTION_CLOSED');
      // The crash came from a callback of the next turns; give them time to run.
      await new Promise((r) => setTimeout(r, 300));
      expect(uncaught.map((e) => String(e))).toEqual([]);
      expect(await h.deps.db.query<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await killer.end();
    }
  });
});
