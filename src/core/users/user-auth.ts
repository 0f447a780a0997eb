import { and, eq, sql } from 'drizzle-orm';
import { appUsers, licenses, plans } from '../../db/schema.js';
import type { ClientApplication } from '../applications/application-cache.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { AppError, conflict, unauthorized } from '../errors.js';
import { emitEvent } from '../events/emit-event.js';
import { isUniqueViolation } from '../developers/register-developer.js';
import { normalizeKey } from '../licenses/key-format.js';
import { effectiveStatus } from '../licenses/license-view.js';
import { blacklistRefusal } from '../blacklists/blacklist-refusal.js';
import { validateLicense, type ValidationOutcome } from '../licenses/validate-license.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../passwords.js';
import { APP_PAUSED } from './license-refusal.js';
import { depsInTransaction, lookupIn } from './transaction-deps.js';
import { holdsPassword, signUserToken, userTokenKey, verifyUserToken } from './user-token.js';
import { toUserView } from './user-view.js';

/**
 * The user-auth API: end users of an application sign up with a license and log in with
 * username, password and HWID. The license rules (and codes) are exactly those of /validate;
 * a failed license check is a 403 carrying that code.
 */

type User = typeof appUsers.$inferSelect;

const clientActor = (app: ClientApplication, ip?: string | null) => ({ kind: 'client' as const, applicationId: app.id, ...(ip ? { ip } : {}) });

function refuse(outcome: ValidationOutcome): never {
  throw new AppError(outcome.code, outcome.message, 403);
}

function tokenFor(deps: Deps, app: ClientApplication, user: User) {
  return signUserToken(userTokenKey(deps.box, app.appId), { sub: String(user.id), app: app.appId, lic: user.licenseId }, user.passwordHash, deps.clock.now().getTime());
}

async function licenseByKey(deps: Deps, app: ClientApplication, key: string) {
  const [row] = await deps.db.orm
    .select()
    .from(licenses)
    .where(and(eq(licenses.applicationId, app.id), eq(licenses.licenseKey, normalizeKey(key))));
  return row ?? null;
}

async function userOfLicense(deps: Deps, licenseId: number) {
  const [row] = await deps.db.orm.select().from(appUsers).where(eq(appUsers.licenseId, licenseId)).limit(1);
  return row ?? null;
}

/** Whether the application has a user of that name, matched as login matches it (case-insensitively). */
async function usernameTaken(deps: Deps, app: ClientApplication, username: string) {
  const [row] = await deps.db.orm
    .select({ id: appUsers.id })
    .from(appUsers)
    .where(and(eq(appUsers.applicationId, app.id), eq(sql`lower(${appUsers.username})`, username.toLowerCase())))
    .limit(1);
  return row !== undefined;
}

const USERNAME_TAKEN = () => conflict('That username is taken', 'USERNAME_TAKEN');

export interface CreateUserInput {
  license_key: string;
  username: string;
  password: string;
  hwid: string;
  ip?: string | null;
}

/**
 * The license check runs inside the transaction that inserts the user, so its writes (the first
 * activation, the HWID, the start of the clock) stand only if the user is created: a taken
 * username or a license taken meanwhile leaves the license as it was. What can be refused without
 * a write is refused before the password is hashed.
 */
export async function createUser(deps: Deps, app: ClientApplication, input: CreateUserInput) {
  const refused = await blacklistRefusal(deps, app, input);
  if (refused) return refused;
  const check = { license_key: input.license_key, hwid: input.hwid, ip: input.ip ?? null };
  const license = await licenseByKey(deps, app, input.license_key);
  // A paused application or a key that names no license: /validate answers these without a write.
  if (app.settings.paused || !license) {
    const outcome = await validateLicense(deps, app, check);
    if (!outcome.success) refuse(outcome);
  }
  if (license && (await userOfLicense(deps, license.id))) throw conflict('This license is already registered to a user', 'LICENSE_IN_USE');
  if (await usernameTaken(deps, app, input.username)) throw USERNAME_TAKEN();
  // Hashed before the transaction, so no row lock waits on Argon2.
  const passwordHash = await hashPassword(input.password);
  try {
    const user = await deps.db.orm.transaction(async (tx) => {
      const outcome = await validateLicense(depsInTransaction(deps, tx), app, check, { lookup: lookupIn(tx) });
      if (!outcome.success) refuse(outcome);
      // One user per license: the license row is locked so two sign-ups cannot share it.
      await tx.select({ id: licenses.id }).from(licenses).where(eq(licenses.id, outcome.licenseId!)).for('update');
      const [taken] = await tx.select({ id: appUsers.id }).from(appUsers).where(eq(appUsers.licenseId, outcome.licenseId!));
      if (taken) throw conflict('This license is already registered to a user', 'LICENSE_IN_USE');
      const [created] = await tx
        .insert(appUsers)
        .values({ applicationId: app.id, licenseId: outcome.licenseId!, username: input.username, passwordHash, hwid: input.hwid, lastLogin: deps.clock.now() })
        .returning();
      await emitEvent(tx, app.id, 'user.created', { user: { id: created!.id, username: created!.username, license_id: created!.licenseId } });
      await writeAudit(tx, clientActor(app, input.ip), {
        applicationId: app.id,
        action: 'user.created',
        target: `user:${created!.id}`,
        details: { username: input.username, license_id: created!.licenseId },
      });
      return created!;
    });
    return { message: 'User created successfully', token: tokenFor(deps, app, user), user: toUserView(user) };
  } catch (err) {
    // Taken meanwhile by a concurrent sign-up: the transaction, the activation with it, is undone.
    if (isUniqueViolation(err)) throw USERNAME_TAKEN();
    throw err;
  }
}

/** Unknown user and wrong password look the same, in the same time. */
export async function loginUser(deps: Deps, app: ClientApplication, input: { username: string; password: string; hwid: string; ip?: string | null }) {
  const refused = await blacklistRefusal(deps, app, input);
  if (refused) return refused;
  // Refused for everyone alike, so before any password work (it tells nothing about the user).
  if (app.settings.paused) throw new AppError(APP_PAUSED.code, APP_PAUSED.message, 403);
  const [user] = await deps.db.orm
    .select()
    .from(appUsers)
    .where(and(eq(appUsers.applicationId, app.id), eq(sql`lower(${appUsers.username})`, input.username.toLowerCase())));
  if (!user) {
    await burnPasswordCheck(input.password);
    throw unauthorized('Invalid username or password');
  }
  if (!(await verifyPassword(user.passwordHash, input.password))) throw unauthorized('Invalid username or password');
  const license = user.licenseId === null ? null : (await deps.db.orm.select().from(licenses).where(eq(licenses.id, user.licenseId)))[0];
  if (!license) throw new AppError('NOT_FOUND', 'The license of this user no longer exists', 403);
  const outcome = await validateLicense(deps, app, { license_key: license.licenseKey, hwid: input.hwid, ip: input.ip ?? null });
  if (!outcome.success) refuse(outcome);
  // Only while the hash is still the one the password was checked against: a reset committed
  // meanwhile must not hand out a token bound to the new password.
  const [updated] = await deps.db.orm
    .update(appUsers)
    .set({ lastLogin: deps.clock.now(), hwid: input.hwid })
    .where(and(eq(appUsers.id, user.id), eq(appUsers.passwordHash, user.passwordHash)))
    .returning();
  if (!updated) throw unauthorized('Invalid username or password');
  return { message: 'Connection successful', token: tokenFor(deps, app, updated), user: toUserView(updated) };
}

/** A license check that answers with the token of the user registered with that license. */
export async function validateUserLicense(deps: Deps, app: ClientApplication, input: { license_key: string; hwid: string; ip?: string | null }) {
  const refused = await blacklistRefusal(deps, app, input);
  if (refused) return refused;
  const outcome = await validateLicense(deps, app, { license_key: input.license_key, hwid: input.hwid, ip: input.ip ?? null });
  if (!outcome.success) refuse(outcome);
  const user = await userOfLicense(deps, outcome.licenseId!);
  if (!user) throw new AppError('NOT_FOUND', 'No user is registered with this license', 404);
  return { message: 'License is valid', token: tokenFor(deps, app, user) };
}

/**
 * Moves a user to a new, unused license (renewal): the old key and the user's HWID identify the
 * user; the new key must validate with that HWID, which binds and consumes it — inside the move's
 * transaction, so a move that fails leaves the new license as it was.
 */
export async function updateUserLicense(deps: Deps, app: ClientApplication, input: { old_license_key: string; new_license_key: string; hwid: string; ip?: string | null }) {
  const refused = await blacklistRefusal(deps, app, input);
  if (refused) return refused;
  const old = await licenseByKey(deps, app, input.old_license_key);
  const user = old ? await userOfLicense(deps, old.id) : null;
  if (!old || !user) throw new AppError('NOT_FOUND', 'No user is registered with the old license', 404);
  if (user.hwid && user.hwid !== input.hwid) throw new AppError('HWID_MISMATCH', 'This user is bound to another device', 403);
  const fresh = await licenseByKey(deps, app, input.new_license_key);
  if (!fresh) throw new AppError('NOT_FOUND', 'License not found', 403);
  if (fresh.id === old.id) throw new AppError('VALIDATION_ERROR', 'The new license is the same as the old one', 400);
  if (fresh.status !== 'inactive' || (await userOfLicense(deps, fresh.id))) throw conflict('The new license has already been used', 'LICENSE_IN_USE');
  const now = deps.clock.now();
  const moved = await deps.db.orm.transaction(async (tx) => {
    // One user per license, as at sign-up: the license row is locked before its users are looked
    // for, so a move and a sign-up (or another move) racing for the same new key take turns, and
    // the later one sees the user the first put there. (Locking the users found locks nothing
    // while there are none.)
    await tx.select({ id: licenses.id }).from(licenses).where(eq(licenses.id, fresh.id)).for('update');
    const [taken] = await tx.select({ id: appUsers.id }).from(appUsers).where(eq(appUsers.licenseId, fresh.id));
    if (taken) throw conflict('The new license has already been used', 'LICENSE_IN_USE');
    const outcome = await validateLicense(depsInTransaction(deps, tx), app, { license_key: input.new_license_key, hwid: input.hwid, ip: input.ip ?? null }, { lookup: lookupIn(tx) });
    if (!outcome.success) refuse(outcome);
    const [row] = await tx
      .update(appUsers)
      .set({ licenseId: fresh.id })
      .where(and(eq(appUsers.id, user.id), eq(appUsers.licenseId, old.id)))
      .returning();
    // A concurrent move of the same user got there first: this one changes nothing.
    if (!row) throw conflict('The user has moved to another license meanwhile', 'LICENSE_IN_USE');
    // The old license ends with the move, so it cannot be handed on and used next to the new one.
    // Ending it is setting its end to now: the one expiry rule then applies everywhere (validate,
    // check-expiration, views), and the expiry sweep marks it expired and emits license.expired.
    // A banned license stays banned.
    await tx
      .update(licenses)
      .set({ expiresAt: sql`least(coalesce(${licenses.expiresAt}, ${now.toISOString()}::timestamptz), ${now.toISOString()}::timestamptz)`, updatedAt: now })
      .where(and(eq(licenses.id, old.id), sql`${licenses.status} <> 'banned'`));
    await writeAudit(tx, clientActor(app, input.ip), {
      applicationId: app.id,
      action: 'user.license_updated',
      target: `user:${user.id}`,
      details: { from_license_id: old.id, to_license_id: fresh.id, from_license_ended_at: now.toISOString() },
    });
    return row;
  });
  return { message: 'License updated successfully', token: tokenFor(deps, app, moved), user: toUserView(moved) };
}

/** The application a token claims to belong to, read before the signature is checked. */
export function tokenApplicationId(token: string): string | null {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { app?: unknown };
    return typeof claims.app === 'string' ? claims.app : null;
  } catch {
    return null;
  }
}

export async function getUserProfile(deps: Deps, app: ClientApplication, token: string) {
  const key = userTokenKey(deps.box, app.appId);
  const claims = verifyUserToken(key, token, app.appId, deps.clock.now().getTime());
  if (!claims) throw unauthorized('The user token is invalid or expired');
  const [row] = await deps.db.orm
    .select({ user: appUsers, license: licenses, plan: plans })
    .from(appUsers)
    .leftJoin(licenses, eq(licenses.id, appUsers.licenseId))
    .leftJoin(plans, eq(plans.id, licenses.planId))
    .where(and(eq(appUsers.id, Number(claims.sub)), eq(appUsers.applicationId, app.id)));
  if (!row) throw unauthorized('The user no longer exists');
  // Issued before the password was reset: refused as an expired token is.
  if (!holdsPassword(key, claims, row.user.passwordHash)) throw unauthorized('The user token is invalid or expired');
  const now = deps.clock.now();
  const { license_id: _omit, ...user } = toUserView(row.user);
  return {
    user: { id: user.id, username: user.username, hwid: user.hwid, created_at: user.created_at, last_login: user.last_login },
    license: row.license
      ? {
          license_key: row.license.licenseKey,
          status: effectiveStatus(row.license.status, row.license.expiresAt, now),
          plan: row.plan ? { id: row.plan.id, name: row.plan.name, duration_days: row.plan.durationDays } : null,
          activated_at: row.license.activatedAt?.toISOString() ?? null,
          expires_at: row.license.expiresAt?.toISOString() ?? null,
        }
      : null,
  };
}
