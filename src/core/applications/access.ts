import { and, eq } from 'drizzle-orm';
import { applicationMembers, applications } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { AppError, forbidden, notFound } from '../errors.js';

export type Role = 'owner' | 'admin' | 'manager' | 'viewer';

/** What an action needs; each role can do everything the roles below it can. */
export type Need = 'read' | 'manage' | 'admin' | 'owner';

const RANK: Record<Role, number> = { viewer: 0, manager: 1, admin: 2, owner: 3 };
const NEEDED: Record<Need, number> = { read: 0, manage: 1, admin: 2, owner: 3 };

export const roleAllows = (role: Role, need: Need) => RANK[role] >= NEEDED[need];

/**
 * What a seller's access check reads of an application: everything its API view shows, never the
 * sealed secret and signing key (only the client API and a secret rotation need those).
 */
const APPLICATION_COLUMNS = {
  id: applications.id,
  appId: applications.appId,
  ownerId: applications.ownerId,
  name: applications.name,
  description: applications.description,
  publicKey: applications.publicKey,
  settings: applications.settings,
  createdAt: applications.createdAt,
  updatedAt: applications.updatedAt,
};

/**
 * How a write transaction holds its application's row until it commits. A write that takes one
 * takes it before any lock on what the application holds (plans, …): application first, children
 * after, the order in which a delete of the application takes them (its row, then the cascade),
 * so the two never wait on each other in opposite orders.
 * - `key share`: the application stays until we commit: a concurrent delete waits for us, or has
 *   committed and we see the application gone (a 404, not a foreign-key violation at the insert).
 * - `no key update`: that, and one such write per application at a time: what a count-then-insert
 *   limit (webhooks, variables, plans, files, licenses…) and a read-merge-write of the settings need.
 * - `update`: the delete of the application itself, which then waits for every write above.
 */
export type ApplicationLock = 'key share' | 'no key update' | 'update';

/** Takes the application row's lock (see ApplicationLock) on its own; false when it is gone. */
export async function lockApplication(tx: Executor, applicationId: number, lock: ApplicationLock = 'no key update'): Promise<boolean> {
  const rows = await tx.select({ id: applications.id }).from(applications).where(eq(applications.id, applicationId)).for(lock);
  return rows.length > 0;
}

/** The caller's membership of the application, read with a share lock (see requireApplication). */
async function shareMembership(db: Executor, applicationId: number, developerId: number): Promise<Role | undefined> {
  const [member] = await db
    .select({ role: applicationMembers.role })
    .from(applicationMembers)
    .where(and(eq(applicationMembers.applicationId, applicationId), eq(applicationMembers.developerId, developerId)))
    .for('share');
  return member?.role;
}

/**
 * Loads an application for a seller and checks the role. An application the developer has no part
 * in is a 404, exactly as if it did not exist; a visible one the role may not change is a 403.
 * With `lock` (inside a transaction), the same statement also takes the application row's lock,
 * so what it returns is the row as it stands once the lock is held.
 * An admin's or owner's action (collaborators, webhooks, settings, secrets) also holds the caller's
 * membership row with a share lock until its transaction ends: removing that member, or lowering
 * their role, waits for the write under way, or ends it at this check (404, 403). Without it, a
 * write checked just before its author's removal committed after the removal had answered — an
 * admin being removed could still add a collaborator of their own (an audit). Such an action takes
 * the application row first (`key share` unless it asks for more), then the membership, the order
 * in which a delete of the application takes them, so the two never deadlock. Lesser roles' writes
 * skip it: it is a row write per request, and they run at volume.
 */
export async function requireApplication(db: Executor, actor: SellerActor, applicationId: number, need: Need, lock?: ApplicationLock) {
  // The developer who linked a server may own other applications; from that server they do not exist.
  if (actor.kind === 'discord' && actor.applicationId !== applicationId) throw notFound('Application');
  const query = db
    .select({ app: APPLICATION_COLUMNS, role: applicationMembers.role })
    .from(applications)
    .innerJoin(applicationMembers, and(eq(applicationMembers.applicationId, applications.id), eq(applicationMembers.developerId, actor.developerId)))
    .where(eq(applications.id, applicationId))
    .limit(1);
  const guardsMembership = NEEDED[need] >= NEEDED.admin;
  const appLock = lock ?? (guardsMembership ? 'key share' : undefined);
  const [row] = appLock ? await query.for(appLock, { of: applications }) : await query;
  if (!row) throw notFound('Application');
  // A statement of its own: drizzle puts one locking clause on a statement.
  if (guardsMembership) {
    const role = await shareMembership(db, applicationId, actor.developerId);
    if (!role) throw notFound('Application');
    row.role = role;
  }
  if (!roleAllows(row.role, need)) throw forbidden();
  return row;
}

/**
 * Access to something that belongs to an application (a plan, license, job, webhook, …), already
 * loaded by id: checked through its application, and — hiding existence — a thing in an
 * application the seller has no part in is "not found" under its own name.
 */
export async function requireOwnedBy(db: Executor, actor: SellerActor, applicationId: number | null | undefined, need: Need, what: string, lock?: ApplicationLock) {
  if (applicationId === null || applicationId === undefined) throw notFound(what);
  try {
    return await requireApplication(db, actor, applicationId, need, lock);
  } catch (err) {
    if (err instanceof AppError && err.status === 404) throw notFound(what);
    throw err;
  }
}
