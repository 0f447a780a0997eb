import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { serverOf, type Logger } from '../log.js';
import { lockDataDir } from './data-dir-lock.js';
import { guardPoolInTransactions } from './pool-guard.js';
import { preparedByDefault } from './prepared-by-default.js';
import * as schema from './schema.js';

type Orm = PgDatabase<PgQueryResultHKT, typeof schema>;
/** What a transaction callback receives; it has the same query API as the Orm. */
export type Tx = Parameters<Parameters<Orm['transaction']>[0]>[0];
export type Executor = Orm | Tx;

/**
 * The database as the rest of Keycord sees it: drizzle for ordinary use cases, and `query` — a
 * prepared raw statement — for the few hot paths where the query builder's overhead shows.
 */
export interface Db {
  kind: 'postgres' | 'pglite';
  orm: Orm;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface DbOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** Named statements (one round trip each after the first); off for transaction-mode poolers. */
  preparedStatements?: boolean;
  /** Where to say which database is opened (creating the embedded one takes seconds). */
  log?: Logger;
  /**
   * The test suite's guard (pool-guard.ts): told of every statement sent on the Postgres pool from
   * inside an open transaction's callback. Unset in production.
   */
  onPoolQueryInTransaction?: ((stack: string) => void) | undefined;
}

export async function createDb(options: DbOptions): Promise<Db> {
  if (options.databaseUrl) {
    options.log?.info(`using Postgres at ${serverOf(options.databaseUrl)}`);
    return createPostgresDb(options.databaseUrl, options.poolSize ?? 10, options.preparedStatements ?? true, options.onPoolQueryInTransaction);
  }
  return createPgliteDb(options.dataDir, options.log);
}

function createPostgresDb(url: string, poolSize: number, preparedStatements: boolean, onPoolQueryInTransaction: DbOptions['onPoolQueryInTransaction']): Db {
  const pool = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    // Connections are recycled now and then so a long-running instance follows failovers.
    max_lifetime: 60 * 30,
    // postgres.js waits 30 s for a connection by default; a database that does not answer within
    // 5 s is treated as down (requests get a 503 and fail fast until a probe gets through).
    connect_timeout: 5,
    prepare: preparedStatements,
  });
  const client = onPoolQueryInTransaction ? guardPoolInTransactions(pool, onPoolQueryInTransaction) : pool;
  const orm = drizzlePostgres(preparedStatements ? preparedByDefault(client) : client, { schema }) as unknown as Orm;
  return {
    kind: 'postgres',
    orm,
    query: async <T>(text: string, params: unknown[] = []) => (await client.unsafe(text, params as never[], { prepare: preparedStatements })) as unknown as T[],
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * The embedded database runs in this process's memory. Postgres's default 128 MB of shared
 * buffers (and 4 MB of WAL buffers with them) become resident as they fill, on top of the API;
 * the files are in the operating system's page cache anyway, so 16 MB serves an installation
 * small enough for the embedded database (measured: ~140 MB less resident after reopening).
 */
const EMBEDDED_SETTINGS = ['-c', 'shared_buffers=16MB'];

/**
 * The embedded database in DATA_DIR/pglite. PGlite does not lock its directory: a second process
 * on it starts without a word, neither sees the other's writes, and both write the same files.
 * So DATA_DIR is locked first and stays locked until close.
 */
async function createPgliteDb(dataDir: string, log: Logger | undefined): Promise<Db> {
  const lock = await lockDataDir(dataDir);
  try {
    const dir = join(dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    if (existsSync(join(dir, 'PG_VERSION'))) log?.info(`opening the embedded database in ${dir}`);
    else log?.info(`creating the embedded database in ${dir} (first start only; this can take half a minute)`);
    // Loaded only here: PGlite's module alone is ~40 MB of a process that runs on Postgres.
    const [{ PGlite }, { drizzle: drizzlePglite }, { pg_trgm }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('drizzle-orm/pglite'),
      // The license search's trigram indexes (migration 0010): PGlite bundles the extension.
      import('@electric-sql/pglite/contrib/pg_trgm'),
    ]);
    const pg = await PGlite.create(dir, { startParams: [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS], extensions: { pg_trgm } });
    const orm = drizzlePglite(pg, { schema }) as unknown as Orm;
    return {
      kind: 'pglite',
      orm,
      query: async <T>(text: string, params: unknown[] = []) => (await pg.query<T>(text, params)).rows,
      close: async () => {
        try {
          await pg.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** drizzle's `execute` answers an array (postgres.js) or `{ rows }` (PGlite); callers want rows. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
