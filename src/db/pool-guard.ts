import { AsyncLocalStorage } from 'node:async_hooks';
import type { Sql } from 'postgres';

/** Whether the transaction whose callback the current code descends from is still open. */
const openTransaction = new AsyncLocalStorage<{ open: boolean }>();

/**
 * The test suite's guard against a statement on the pool while a transaction the same code opened
 * is still open: it needs a second connection while holding one, so the embedded database (one
 * connection) waits forever, and a pool's worth of such requests at once deadlock Postgres — the
 * Reset HWID and blacklist defects were this. Wraps the client: each `begin` callback runs in a
 * scope marked open until it settles, and a pool statement (`unsafe`, what drizzle and `db.query`
 * send) or a new transaction from inside an open scope is reported with its stack. Statements on the transaction go
 * through the client postgres.js hands the callback, which this does not wrap. Tests only: the
 * async context costs every request.
 */
export function guardPoolInTransactions<T extends Sql>(sql: T, report: (stack: string) => void): T {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'unsafe') {
        return (...args: Parameters<Sql['unsafe']>) => {
          if (openTransaction.getStore()?.open) report(new Error(`a statement on the pool inside an open transaction: ${String(args[0]).slice(0, 120)}`).stack ?? '');
          return (value as Sql['unsafe']).apply(target, args);
        };
      }
      if (prop === 'begin') {
        return (...args: unknown[]) => {
          // A transaction of its own, begun inside an open one, needs a second connection too.
          if (openTransaction.getStore()?.open) report(new Error('a transaction begun on the pool inside an open transaction').stack ?? '');
          const last = args.length - 1;
          const callback = args[last];
          if (typeof callback !== 'function') return (value as (...a: unknown[]) => unknown).apply(target, args);
          const scoped = (inner: Sql) => {
            const state = { open: true };
            return openTransaction.run(state, async () => {
              try {
                return await (callback as (s: Sql) => unknown)(inner);
              } finally {
                state.open = false;
              }
            });
          };
          return (value as (...a: unknown[]) => unknown).apply(target, [...args.slice(0, last), scoped]);
        };
      }
      return value;
    },
  });
}
