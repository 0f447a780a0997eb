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
 * Loads an application for a seller and checks the role. An application the developer has no part
 * in is a 404, exactly as if it did not exist; a visible one the role may not change is a 403.
 */
export async function requireApplication(db: Executor, actor: SellerActor, applicationId: number, need: Need) {
  // The developer who linked a server may own other applications; from that server they do not exist.
  if (actor.kind === 'discord' && actor.applicationId !== applicationId) throw notFound('Application');
  const [row] = await db
    .select({ app: APPLICATION_COLUMNS, role: applicationMembers.role })
    .from(applications)
    .innerJoin(applicationMembers, and(eq(applicationMembers.applicationId, applications.id), eq(applicationMembers.developerId, actor.developerId)))
    .where(eq(applications.id, applicationId))
    .limit(1);
  if (!row) throw notFound('Application');
  if (!roleAllows(row.role, need)) throw forbidden();
  return row;
}

/**
 * Access to something that belongs to an application (a plan, license, job, webhook, …), already
 * loaded by id: checked through its application, and — hiding existence — a thing in an
 * application the seller has no part in is "not found" under its own name.
 */
export async function requireOwnedBy(db: Executor, actor: SellerActor, applicationId: number | null | undefined, need: Need, what: string) {
  if (applicationId === null || applicationId === undefined) throw notFound(what);
  try {
    return await requireApplication(db, actor, applicationId, need);
  } catch (err) {
    if (err instanceof AppError && err.status === 404) throw notFound(what);
    throw err;
  }
}
