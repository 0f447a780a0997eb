import postgres from 'postgres';

/** Rows written to a table so far, from Postgres's statistics: updates (of them HOT) and inserts. */
export interface TableWrites {
  updates: number;
  hotUpdates: number;
  inserts: number;
}

/**
 * Row writes so far in `tables` of the bench database: the share of a run's database work that its
 * writes are (statistics lag ~0.5 s behind, hence the wait). Missing tables count zero.
 */
export async function tableWrites<T extends string>(databaseUrl: string, tables: readonly T[]): Promise<Record<T, TableWrites>> {
  const rows = await readStatistics(
    databaseUrl,
    (sql) => sql<{ relname: string; upd: string; hot: string; ins: string }[]>`
      select relname, n_tup_upd::text as upd, n_tup_hot_upd::text as hot, n_tup_ins::text as ins
      from pg_stat_user_tables where relname in ${sql(tables as readonly string[])}`,
  );
  const of = (name: string): TableWrites => {
    const r = rows.find((x) => x.relname === name);
    return { updates: Number(r?.upd ?? 0), hotUpdates: Number(r?.hot ?? 0), inserts: Number(r?.ins ?? 0) };
  };
  return Object.fromEntries(tables.map((t) => [t, of(t)])) as Record<T, TableWrites>;
}

/** Transactions committed in the bench database so far: a statement outside a transaction is one. */
export async function transactionsSoFar(databaseUrl: string): Promise<number> {
  const [row] = await readStatistics(databaseUrl, (sql) => sql<{ n: string }[]>`select xact_commit::text as n from pg_stat_database where datname = current_database()`);
  return Number(row?.n ?? 0);
}

/** One read of Postgres's statistics over a connection of its own, once they have caught up (they lag ~0.5 s). */
async function readStatistics<R>(databaseUrl: string, read: (sql: postgres.Sql) => Promise<R>): Promise<R> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await new Promise((r) => setTimeout(r, 700));
    return await read(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** "N rows updated (H% HOT)" between two readings of one table. */
export function updatesSince(before: TableWrites, after: TableWrites): string {
  const updates = after.updates - before.updates;
  const hot = updates ? ((after.hotUpdates - before.hotUpdates) / updates) * 100 : 0;
  return `${updates.toLocaleString('en-US')} rows updated (${hot.toFixed(0)}% HOT)`;
}
