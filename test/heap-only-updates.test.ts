import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The usage flush rewrites licenses' last use and seats' last heartbeat all day. Those tables are
 * stored with room on each page (fillfactor 70, migration 0019), so such an update is heap-only:
 * it writes none of the table's indexes (ten for licenses, two of them trigram GIN). On pages
 * packed full, the first update of every row there writes them all. Counted in the flush's own
 * transaction (pg_stat_xact_user_tables), so the figures are exact and immediate.
 */
let h: Harness;
let sql: postgres.Sql;
beforeAll(async () => {
  h = await startHarness({ jobs: 'local', env: { USAGE_FLUSH_MS: '60000' } });
  sql = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await h?.close();
});

const ROWS = 2000;

/** In one transaction: `flush`, then how many rows of `table` it updated and how many of those were heap-only. */
async function updatesOf(table: string, flush: (tx: postgres.TransactionSql) => Promise<unknown>) {
  return sql.begin(async (tx) => {
    await flush(tx);
    const [counts] = await tx<{ updated: number; hot: number }[]>`select n_tup_upd::int as updated, n_tup_hot_upd::int as hot from pg_stat_xact_user_tables where relname = ${table}`;
    return counts!;
  });
}

/**
 * The usage flush's statement (usage-recorder.ts) with licenses' last uses ([id, at, ip]) and seat
 * renewals ([license id, hwid, at]) only: no counters and no log lines.
 */
function flush(tx: postgres.TransactionSql, batch: { uses: [number, string, string][]; renewals: [number, string, string][] }) {
  const none: never[] = [];
  const column = <T>(rows: T[][], i: number) => rows.map((r) => r[i]!);
  const { uses, renewals } = batch;
  return tx`select keycord_usage_flush(${column(uses, 0)}::int[], ${column(uses, 1)}::text[], ${column(uses, 2)}::text[],
    ${none}::int[], ${none}::text[], ${none}::int[], ${none}::int[],
    ${none}::int[], ${none}::int[], ${none}::text[], ${none}::text[], ${none}::text[], ${none}::text[], ${none}::int[],
    ${column(renewals, 0)}::int[], ${column(renewals, 1)}::text[], ${column(renewals, 2)}::text[])`;
}

describe('rows the usage flush rewrites', () => {
  it('are stored with room for their next version', async () => {
    const options = await sql<{ relname: string; reloptions: string[] | null }[]>`select relname, reloptions from pg_class where relname in ('licenses', 'license_seats') order by relname`;
    expect(options).toEqual([
      { relname: 'license_seats', reloptions: ['fillfactor=70'] },
      { relname: 'licenses', reloptions: ['fillfactor=70'] },
    ]);
  });

  it('update licenses and seats in place, without touching an index', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    // Fresh pages, filled as the bulk generation fills them: every row's first update is the test.
    const ids = (
      await sql<{ id: number }[]>`insert into licenses (application_id, plan_id, license_key, status, duration_days, hwids, activated_at)
        select ${app.id}::int, ${plan.id}::int, 'HOT-' || md5(i::text), 'active', 30, array['HWID-' || i], now() from generate_series(1, ${ROWS}::int) i returning id`
    ).map((r) => r.id);
    await sql`insert into license_seats (license_id, hwid, last_heartbeat_at) select id, 'HWID-' || id, now() - interval '1 minute' from unnest(${ids}::int[]) id`;

    // A flush rewrites the licenses used in its interval: here a quarter of each page's rows. (All
    // of a page's rows in one transaction would need more room than 30%: the old versions stay
    // until it ends.)
    const used = ids.filter((_, i) => i % 4 === 0);
    const at = new Date().toISOString();
    const licenses = await updatesOf('licenses', (tx) => flush(tx, { uses: used.map((id) => [id, at, '203.0.113.7']), renewals: [] }));
    expect(licenses.updated).toBe(used.length);
    expect(licenses.hot).toBeGreaterThanOrEqual(used.length * 0.95);

    const seats = await updatesOf('license_seats', (tx) => flush(tx, { uses: [], renewals: used.map((id) => [id, `HWID-${id}`, at]) }));
    expect(seats.updated).toBe(used.length);
    expect(seats.hot).toBeGreaterThanOrEqual(used.length * 0.95);
  });
});
