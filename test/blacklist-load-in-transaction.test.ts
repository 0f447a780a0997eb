import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLicense } from '../src/core/licenses/validate-license.js';
import { depsInTransaction, lookupIn } from '../src/core/users/transaction-deps.js';
import { settleWithin } from '../src/settle-within.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * User sign-up and a user's license move run the license check inside their transaction. When the
 * application's blacklist was not held in process then (changed, or evicted, since the check
 * before the transaction), the check loaded it through the pool: on the embedded database, whose
 * one connection the transaction holds, that waited forever, and every route with it. Found by an
 * audit; this hung before the fix.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ database: 'pglite' });
});
afterAll(() => h?.close());

describe('the license check inside a transaction, with the blacklist not held', () => {
  it('loads the blacklist through the transaction, and refuses a blacklisted device', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id, 1);
    expect((await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'banned-pc' })).statusCode).toBe(201);
    const clientApp = (await h.deps.apps.get(app.app_id))!;
    expect(clientApp.blacklistVersion).toBeGreaterThan(0);
    h.deps.blacklists.invalidate(app.id);
    const check = (hwid: string) =>
      h.deps.db.orm.transaction((tx) => validateLicense(depsInTransaction(h.deps, tx), clientApp, { license_key: lic!.license_key, hwid, ip: null }, { lookup: lookupIn(tx) }));
    expect((await settleWithin(check('banned-pc'), 10_000, null))?.code).toBe('BLACKLISTED');
    h.deps.blacklists.invalidate(app.id);
    expect((await settleWithin(check('pc-1'), 10_000, null))?.code).toBe('VALID');
  });
});
