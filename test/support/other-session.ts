import postgres, { type TransactionSql } from 'postgres';
import type { Harness } from './harness.js';

/**
 * Runs `body` in a transaction of a session of its own, standing in for another client holding
 * row locks while the test drives Keycord. Not on Keycord's pool: requests started inside a
 * transaction of the pool would count as statements inside it (the harness's pool guard).
 */
export async function inOtherSession<T>(h: Harness, body: (tx: TransactionSql) => Promise<T>): Promise<T> {
  const sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return (await sql.begin(body)) as T;
  } finally {
    await sql.end();
  }
}
