import { randomBytes } from 'node:crypto';
import { and, asc, count, eq, ilike, like, sql, type SQL } from 'drizzle-orm';
import { appUsers, licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, requireOwnedBy, type Need } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { containsPattern } from '../like-pattern.js';
import { effectiveStatus } from '../licenses/license-view.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';
import { hashPassword } from '../passwords.js';
import { toUserView } from './user-view.js';

/**
 * Sellers looking after the end-user accounts of their applications (the user-auth API's users):
 * read, find by username, delete, and reset a forgotten password. Viewers read; managers write.
 */

/** What the user-auth API accepts as a username; anything else names no user. */
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

/** Usernames autocomplete offers at most (Discord shows 25 choices). */
const MATCHING_USERS_MAX = 25;

/** 18 random bytes: 24 URL-safe characters, 144 bits, within the user-auth API's 8–256. */
const RESET_PASSWORD_BYTES = 18;

const USER_COLUMNS = {
  user: appUsers,
  license: { id: licenses.id, licenseKey: licenses.licenseKey, status: licenses.status, expiresAt: licenses.expiresAt },
};

type UserRow = { user: typeof appUsers.$inferSelect; license: { id: number; licenseKey: string; status: typeof licenses.$inferSelect.status; expiresAt: Date | null } | null };

/** A user as a seller sees it: its application and, while it exists, its license. Never the password hash. */
const toSellerUserView = (row: UserRow, now: Date) => ({
  ...toUserView(row.user),
  application_id: row.user.applicationId,
  license: row.license
    ? { id: row.license.id, license_key: row.license.licenseKey, status: effectiveStatus(row.license.status, row.license.expiresAt, now), expires_at: row.license.expiresAt?.toISOString() ?? null }
    : null,
});

export type SellerUserView = ReturnType<typeof toSellerUserView>;

const selectUsers = (db: Executor) => db.select(USER_COLUMNS).from(appUsers).leftJoin(licenses, eq(licenses.id, appUsers.licenseId));

/** A user, visible only through an application the seller is part of (else 404 "User not found"). */
async function requireUser(db: Executor, actor: SellerActor, userId: number, need: Need) {
  const [row] = await selectUsers(db).where(eq(appUsers.id, userId)).limit(1);
  await requireOwnedBy(db, actor, row?.user.applicationId, need, 'User');
  return row!;
}

export async function listUsers(deps: Deps, actor: SellerActor, applicationId: number, query: PageRequest & { search?: string | undefined }) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = and(eq(appUsers.applicationId, applicationId), query.search ? ilike(appUsers.username, containsPattern(query.search)) : undefined);
  const { limit, offset } = pageWindow(query);
  const now = deps.clock.now();
  return readPage(deps.db.orm.select({ n: count() }).from(appUsers).where(where), selectUsers(deps.db.orm).where(where).orderBy(asc(appUsers.id)).limit(limit).offset(offset), (row) =>
    toSellerUserView(row, now),
  );
}

export async function getUser(deps: Deps, actor: SellerActor, userId: number) {
  return toSellerUserView(await requireUser(deps.db.orm, actor, userId, 'read'), deps.clock.now());
}

/** A user of the application by username, matched as login matches it (case-insensitively). */
export async function getUserByUsername(deps: Deps, actor: SellerActor, applicationId: number, username: string) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const name = username.trim();
  if (!USERNAME.test(name)) throw notFound('User');
  const [row] = await selectUsers(deps.db.orm)
    .where(and(eq(appUsers.applicationId, applicationId), eq(sql`lower(${appUsers.username})`, name.toLowerCase())))
    .limit(1);
  if (!row) throw notFound('User');
  return toSellerUserView(row, deps.clock.now());
}

/** Usernames starting with `prefix` (case-insensitively), for autocomplete. */
export async function matchingUsernames(deps: Deps, actor: SellerActor, applicationId: number, prefix: string): Promise<string[]> {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const start = prefix.trim().toLowerCase().slice(0, 32);
  const startsWith: SQL | undefined = start ? like(sql`lower(${appUsers.username})`, `${start.replace(/[\\%_]/g, (c) => '\\' + c)}%`) : undefined;
  const rows = await deps.db.orm
    .select({ username: appUsers.username })
    .from(appUsers)
    .where(and(eq(appUsers.applicationId, applicationId), startsWith))
    .orderBy(sql`lower(${appUsers.username})`)
    .limit(MATCHING_USERS_MAX);
  return rows.map((r) => r.username);
}

/** Deletes the account; its license stays as it is (a user token of it stops working at once). */
export async function deleteUser(deps: Deps, actor: SellerActor, userId: number) {
  await deps.db.orm.transaction(async (tx) => {
    const { user } = await requireUser(tx, actor, userId, 'manage');
    const [gone] = await tx.delete(appUsers).where(eq(appUsers.id, userId)).returning({ id: appUsers.id });
    if (!gone) throw notFound('User');
    await writeAudit(tx, actor, { applicationId: user.applicationId, action: 'user.deleted', target: `user:${userId}`, details: { username: user.username, license_id: user.licenseId } });
  });
  return { message: 'User deleted' };
}

/**
 * Replaces the password with a strong random one, returned once and stored only as its hash.
 * Access is checked before Argon2 runs (a caller who may not reset gets its 404/403 without the
 * server hashing for it), and again in the transaction that writes the hash, so a role revoked
 * meanwhile still counts. Hashed outside the transaction, so no row lock waits on Argon2. Every
 * user token issued before is refused from then on (it carries a fingerprint of the old hash:
 * see user-token.ts).
 */
export async function resetUserPassword(deps: Deps, actor: SellerActor, userId: number) {
  await requireUser(deps.db.orm, actor, userId, 'manage');
  const password = randomBytes(RESET_PASSWORD_BYTES).toString('base64url');
  const passwordHash = await hashPassword(password);
  const user = await deps.db.orm.transaction(async (tx) => {
    const { user } = await requireUser(tx, actor, userId, 'manage');
    const [changed] = await tx.update(appUsers).set({ passwordHash }).where(eq(appUsers.id, userId)).returning({ id: appUsers.id });
    if (!changed) throw notFound('User');
    // Never the password, nor its hash.
    await writeAudit(tx, actor, { applicationId: user.applicationId, action: 'user.password_reset', target: `user:${userId}`, details: { username: user.username } });
    return user;
  });
  return { user: { id: user.id, username: user.username }, password };
}
