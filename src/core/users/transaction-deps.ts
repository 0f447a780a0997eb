import { sql, type SQL } from 'drizzle-orm';
import { rowsOf, type Db, type Tx } from '../../db/client.js';
import type { Deps } from '../deps.js';
import { LICENSE_LOOKUP_SQL, stateFromRow, type LicenseState, type LicenseStateRow } from '../licenses/license-lookup.js';

/** A raw statement with `$n` placeholders as drizzle SQL; each value stays one parameter (an array too). */
function statement(text: string, params: unknown[]): SQL {
  return sql.join(text.split(/\$(\d+)/).map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql.param(params[Number(part) - 1]))));
}

/**
 * `deps` whose database is the transaction `tx`, for a use case that must run the license check
 * inside its own transaction: what the check writes (the activation, its HWID, the start of the
 * clock, the license.activated event) then commits or rolls back with the caller's writes.
 * The check's `db.query` runs on the transaction, and a blacklist it must load is read through
 * that `db`; pass `lookupIn(tx)` as its `lookup` so the key is read there too (the shared lookup
 * batches on the pool). Nothing in it may query the pool: the transaction holds a connection, and
 * the embedded database has only the one.
 */
export function depsInTransaction(deps: Deps, tx: Tx): Deps {
  const db: Db = {
    ...deps.db,
    orm: tx as unknown as Db['orm'],
    query: async <T>(text: string, params: unknown[] = []) => rowsOf<T>(await tx.execute(statement(text, params))),
  };
  return { ...deps, db };
}

/** The license lookup of validation (license-lookup.ts), run on the transaction `tx`. */
export function lookupIn(tx: Tx) {
  return async (applicationId: number, licenseKey: string): Promise<LicenseState | null> => {
    const [row] = rowsOf<LicenseStateRow>(await tx.execute(statement(LICENSE_LOOKUP_SQL, [[applicationId], [licenseKey]])));
    return row ? stateFromRow(row) : null;
  };
}
