import { hashPassword } from '../../src/core/passwords.js';
import { signUserToken, userTokenKey } from '../../src/core/users/user-token.js';
import type { Harness } from './harness.js';

/**
 * A user token made as Keycord makes one, for an existing app user: bound to the password hash the
 * user has now, so a later reset ends it. `appId` is the application's public `app_id` (a foreign
 * one makes a token worthless here); `nowMs` in the past makes an expired one.
 */
export async function userTokenFor(h: Harness, appId: string, userId: number, nowMs = Date.now()): Promise<string> {
  const [row] = await h.deps.db.query<{ password_hash: string; license_id: number | null }>('select password_hash, license_id from app_users where id = $1', [userId]);
  if (!row) throw new Error(`No app user ${userId}`);
  return signUserToken(userTokenKey(h.deps.box, appId), { sub: String(userId), app: appId, lic: row.license_id }, row.password_hash, nowMs);
}

/** An app user bound to a license, inserted directly (no license check, no login), and a user token for them. */
export async function insertUserWithToken(h: Harness, app: { id: number; app_id: string }, licenseId: number | null, username = `user${Date.now() % 100000}`) {
  const [row] = await h.deps.db.query<{ id: number }>('insert into app_users (application_id, username, password_hash, license_id) values ($1, $2, $3, $4) returning id', [
    app.id,
    username,
    await hashPassword('not used here'),
    licenseId,
  ]);
  return { userId: row!.id, token: await userTokenFor(h, app.app_id, row!.id) };
}
