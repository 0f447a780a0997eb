import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client as post, startHarness, type Harness, type Seller } from './support/harness.js';
import { inOtherSession } from './support/other-session.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * Audit of the client paths: one user per license. A sign-up locks the license row before it
 * looks for a user of it; a move to a new license (update-license) looked for one without any
 * lock, so a move racing another move (or a sign-up) for the same new key passed the check and
 * put a second user on the license wherever its HWID slots let both validate.
 *
 * The race is made certain rather than hoped for: the test holds the new license's row lock
 * while both requests get past their checks, and lets go once both wait on it.
 */

let h: Harness;
let s: Seller;

beforeAll(async () => {
  h = await startHarness();
  s = await h.seller();
});
afterAll(() => h?.close());

const usersOf = async (licenseId: number) => (await h.deps.db.query<{ n: number }>('select count(*)::int as n from app_users where license_id = $1', [licenseId]))[0]!.n;

/** Runs `race` while the license row is locked, releasing it once `waiters` statements wait on a lock. */
async function withLicenseLocked<T>(licenseId: number, waiters: number, race: () => Promise<T>): Promise<T> {
  let result!: Promise<T>;
  await inOtherSession(h, async (tx) => {
    await tx`select id from licenses where id = ${licenseId} for update`;
    result = race();
    // Each request may also be answered before it ever waits (a refusal): then fewer wait.
    await untilLockWaiters(h.deps.db, waiters).catch(() => undefined);
  });
  return result;
}

describe('one user per license', () => {
  it('two users moved to one new key at the same time: one moves, the other is refused LICENSE_IN_USE', async () => {
    const { app, plan } = await s.setup({ plan: { max_hwids: 5 } });
    const [a, b, fresh] = await s.generate(plan.id, 3);
    for (const [name, lic] of [
      ['mover_a', a!],
      ['mover_b', b!],
    ] as const) {
      expect((await post(h, '/api/user-auth/create', { app_id: app.app_id, license_key: lic.license_key, username: name, password: 'mover password 1', hwid: `PC-${name}` })).statusCode).toBe(201);
    }
    const answers = await withLicenseLocked(fresh!.id, 2, () =>
      Promise.all(
        [
          ['mover_a', a!],
          ['mover_b', b!],
        ].map(([name, lic]) =>
          post(h, '/api/user-auth/update-license', { app_id: app.app_id, old_license_key: (lic as { license_key: string }).license_key, new_license_key: fresh!.license_key, hwid: `PC-${name}` }),
        ),
      ),
    );
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    expect(answers.find((r) => r.statusCode === 409)!.json()).toMatchObject({ code: 'LICENSE_IN_USE' });
    expect(await usersOf(fresh!.id)).toBe(1);
  });

  it('a sign-up and a move racing for one new key: one user on it', async () => {
    const { app, plan } = await s.setup({ plan: { max_hwids: 5 } });
    const [old, fresh] = await s.generate(plan.id, 2);
    expect((await post(h, '/api/user-auth/create', { app_id: app.app_id, license_key: old!.license_key, username: 'old_user', password: 'mover password 1', hwid: 'PC-OLD' })).statusCode).toBe(201);
    const answers = await withLicenseLocked(fresh!.id, 2, () =>
      Promise.all([
        post(h, '/api/user-auth/update-license', { app_id: app.app_id, old_license_key: old!.license_key, new_license_key: fresh!.license_key, hwid: 'PC-OLD' }),
        post(h, '/api/user-auth/create', { app_id: app.app_id, license_key: fresh!.license_key, username: 'new_user', password: 'mover password 1', hwid: 'PC-NEW' }),
      ]),
    );
    for (const r of answers) expect(r.statusCode, r.body).toBeLessThan(500);
    expect(answers.filter((r) => r.statusCode === 409)).toHaveLength(1);
    expect(await usersOf(fresh!.id)).toBe(1);
  });
});
