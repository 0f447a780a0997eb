import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * Rotating an application's secret while its owner deletes the application: the rotation waits on
 * the application's row and, once the delete commits, answers 404 as any change racing a delete
 * does (test/seller-updates-racing-deletes.test.ts), never a 409 from an audit entry about an
 * application that is gone.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe('rotating an application secret racing the application delete', () => {
  it('a rotation that meets the delete of its application is a 404', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    let commit!: () => void;
    const committed = new Promise<void>((r) => (commit = r));
    let deleted!: () => void;
    const held = new Promise<void>((r) => (deleted = r));
    const done = h.deps.db.orm.transaction(async (tx) => {
      await tx.execute(sql.raw(`delete from applications where id = ${Number(app.id)}`));
      deleted();
      await committed;
    });
    await held;
    const answer = s.call('POST', `/api/applications/${app.id}/rotate-secret`);
    await untilLockWaiters(h.deps.db, 1, 'the rotation waiting on the deleted application row');
    commit();
    await done;
    expectError(await answer, 404, 'NOT_FOUND');
  });
});
