import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { waitFor } from './support/wait.js';

/**
 * Validation log lines have no foreign key to their application (its check was a trigger per
 * line; migration 0018). What it guaranteed still holds: the usage flush locks each application of
 * its batch once and writes only the lines of those it locked, and deleting an application deletes
 * its lines in the same transaction — whichever of the two comes first, no line outlives its
 * application, and a line of a deleted application does not fail the rest of its flush.
 */
let h: Harness;
let sql: postgres.Sql;
beforeAll(async () => {
  // The usage timer never flushes on its own: each test flushes when it means to.
  h = await startHarness({ jobs: 'local', env: { USAGE_FLUSH_MS: '60000' } });
  sql = postgres(h.databaseUrl, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await h?.close();
});

async function validatedApp(s: Seller) {
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0, hwid_lock: false } });
  const [key] = await s.generate(plan.id);
  const res = await h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: { app_id: app.app_id, license_key: key!.license_key } });
  expect(res.json().code).toBe('VALID');
  return app;
}

const linesOf = async (applicationId: number) => (await sql<{ n: number }[]>`select count(*)::int as n from validation_logs where application_id = ${applicationId}`)[0]!.n;

const deleteApp = (s: Seller, id: number) => s.call('DELETE', `/api/applications/${id}`);

/** Whether some backend of the bench database is waiting for a lock right now. */
const someoneWaitsForALock = async () => (await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n > 0;

describe('validation log lines and their application', () => {
  it('go with the application when it is deleted, and only its own', async () => {
    const s = await h.seller();
    const gone = await validatedApp(s);
    const kept = await validatedApp(s);
    await h.deps.usage.flush();
    expect(await linesOf(gone.id)).toBe(1);

    expect((await deleteApp(s, gone.id)).statusCode).toBe(200);
    expect(await linesOf(gone.id)).toBe(0);
    expect(await linesOf(kept.id)).toBe(1);
  });

  it('of an application deleted before the flush are dropped, and the rest of the batch is written', async () => {
    const s = await h.seller();
    const gone = await validatedApp(s);
    const kept = await validatedApp(s);
    expect((await deleteApp(s, gone.id)).statusCode).toBe(200);
    await h.deps.usage.flush();
    expect(await linesOf(gone.id)).toBe(0);
    expect(await linesOf(kept.id)).toBe(1);
    expect(h.deps.usage.pending).toBe(0);
  });

  it('of a flush that waits for a deletion in progress are not written once it commits', async () => {
    const s = await h.seller();
    const gone = await validatedApp(s);
    let flushed: Promise<void> | undefined;
    await sql.begin(async (tx) => {
      await tx`delete from applications where id = ${gone.id}`;
      flushed = h.deps.usage.flush();
      await waitFor(someoneWaitsForALock, 15_000, 'the flush to wait for the deleted application');
    });
    await flushed;
    expect(await linesOf(gone.id)).toBe(0);
    expect(h.deps.usage.pending).toBe(0);
  });

  it('of a flush in progress make a deletion wait, and are deleted with the application', async () => {
    const s = await h.seller();
    const gone = await validatedApp(s);
    let deleted: ReturnType<typeof deleteApp> | undefined;
    await sql.begin(async (tx) => {
      // The flush's own statement, left uncommitted: its line is written and its application locked.
      await tx`select keycord_usage_flush('{}', '{}', '{}', '{}', '{}', '{}', '{}',
        ${[gone.id]}::int[], '{}', ${['VALID']}::text[], '{}', '{}', ${[new Date().toISOString()]}::text[], ${[1]}::int[], '{}', '{}', '{}')`;
      deleted = deleteApp(s, gone.id);
      await waitFor(someoneWaitsForALock, 15_000, 'the deletion to wait for the flush');
    });
    expect((await deleted!).statusCode).toBe(200);
    expect(await linesOf(gone.id)).toBe(0);
  });
});
