import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness } from './support/harness.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * A change that meets a delete of what it changes, committed while the change waited on the row,
 * answers 404 — as it would have a moment later — never a 500 from writing nothing.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** Deletes in a transaction left open while `request` runs into its row lock; then commits. */
async function deletedUnder(deleteStatement: string, request: () => Promise<import('fastify').LightMyRequestResponse>) {
  let commit!: () => void;
  const committed = new Promise<void>((r) => (commit = r));
  let deleted!: () => void;
  const held = new Promise<void>((r) => (deleted = r));
  const done = h.deps.db.orm.transaction(async (tx) => {
    await tx.execute(sql.raw(deleteStatement));
    deleted();
    await committed;
  });
  await held;
  const answer = request();
  await untilLockWaiters(h.deps.db, 1, 'the request waiting on the deleted row');
  commit();
  await done;
  return answer;
}

describe('a change racing a delete', () => {
  it('changing a variable deleted meanwhile is a 404', async () => {
    const s = await h.seller();
    const { app } = await s.setup();
    const variable = (await s.call('POST', `/api/applications/${app.id}/variables`, { name: 'GONE', value: 'v' })).json() as { id: number };
    const res = await deletedUnder(`delete from variables where id = ${variable.id}`, () => s.call('PUT', `/api/variables/${variable.id}`, { value: 'w' }));
    expectError(res, 404, 'NOT_FOUND');
  });

  it('changing a store integration deleted meanwhile is a 404', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const made = (await s.call('POST', `/api/applications/${app.id}/integrations`, { provider: 'sellix', secret: 'store-secret-0123', products: [{ product_id: 'p', plan_id: plan.id }] })).json() as {
      id: number;
    };
    const res = await deletedUnder(`delete from store_integrations where id = ${made.id}`, () => s.call('PUT', `/api/integrations/${made.id}`, { secret: 'another-secret-4567' }));
    expectError(res, 404, 'NOT_FOUND');
  });
});
