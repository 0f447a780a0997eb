import type { Sql } from 'postgres';

/**
 * Statements with more parameters than this stay unnamed: they are bulk writes (generation
 * batches, `IN` lists) whose text changes with the row count, so a named statement per shape would
 * only fill each connection's statement cache.
 */
const MAX_PREPARED_PARAMETERS = 64;

/**
 * drizzle hands postgres.js `prepare: false` unless a query was built with `.prepare(name)`, and
 * postgres.js sends an unnamed statement with parameters in two round trips: Parse/Describe to
 * learn the parameter types, then Bind/Execute. A named statement is described once per
 * connection and then costs one round trip. This wraps the client drizzle talks to — and the
 * transaction and savepoint clients postgres.js hands to callbacks — so every ordinary statement
 * is named, keyed by its text, and reused on that connection.
 *
 * Off (`DATABASE_PREPARED_STATEMENTS=false`) for poolers in transaction mode that do not carry
 * named statements across server connections.
 */
export function preparedByDefault<T extends Sql>(sql: T): T {
  const wrapScope =
    (open: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback !== 'function') return open(...args);
      const wrapped = (inner: Sql) => (callback as (s: Sql) => unknown)(preparedByDefault(inner));
      return open(...args.slice(0, last), wrapped);
    };
  return new Proxy(sql, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'unsafe') {
        return (text: string, params: unknown[] = [], options: Record<string, unknown> = {}) =>
          (value as Sql['unsafe'])(text, params as never[], {
            ...options,
            prepare: params.length <= MAX_PREPARED_PARAMETERS,
          });
      }
      if (prop === 'begin' || prop === 'savepoint') return wrapScope((value as (...a: unknown[]) => unknown).bind(target));
      return value;
    },
  });
}
