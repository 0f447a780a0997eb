import { and, asc, count, eq, or, sql } from 'drizzle-orm';
import { applicationMembers, developers } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication, roleAllows } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { unlinkGuildsOf } from '../discord/unlink-guild.js';
import { conflict, forbidden, notFound } from '../errors.js';
import { pageWindow, readPage, type PageRequest } from '../page.js';

/** Roles a collaborator may be given; ownership is not transferable through this API. */
export type CollaboratorRole = 'admin' | 'manager' | 'viewer';

const toView = (m: { developerId: number; username: string; role: string; createdAt: Date }) => ({
  developer_id: m.developerId,
  username: m.username,
  role: m.role,
  created_at: m.createdAt.toISOString(),
});

const memberColumns = { developerId: applicationMembers.developerId, username: developers.username, role: applicationMembers.role, createdAt: applicationMembers.createdAt };

export async function listCollaborators(deps: Deps, actor: SellerActor, applicationId: number, page: PageRequest) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const members = eq(applicationMembers.applicationId, applicationId);
  const { limit, offset } = pageWindow(page);
  return readPage(
    deps.db.orm.select({ n: count() }).from(applicationMembers).where(members),
    deps.db.orm
      .select(memberColumns)
      .from(applicationMembers)
      .innerJoin(developers, eq(developers.id, applicationMembers.developerId))
      .where(members)
      // The developer id breaks ties: a page boundary between members added in the same instant stays put.
      .orderBy(asc(applicationMembers.createdAt), asc(applicationMembers.developerId))
      .limit(limit)
      .offset(offset),
    toView,
  );
}

/** Admins and the owner add collaborators by email or username. */
export async function addCollaborator(deps: Deps, actor: SellerActor, applicationId: number, input: { login: string; role: CollaboratorRole }) {
  return deps.db.orm.transaction(async (tx) => {
    await requireApplication(tx, actor, applicationId, 'admin');
    const login = input.login.toLowerCase();
    const [dev] = await tx
      .select({ id: developers.id, username: developers.username })
      .from(developers)
      .where(or(eq(sql`lower(${developers.email})`, login), eq(sql`lower(${developers.username})`, login)));
    if (!dev) throw notFound('Developer');
    const [added] = await tx.insert(applicationMembers).values({ applicationId, developerId: dev.id, role: input.role }).onConflictDoNothing().returning();
    if (!added) throw conflict('That developer is already part of this application');
    await writeAudit(tx, actor, { applicationId, action: 'collaborator.added', target: `developer:${dev.id}`, details: { role: input.role } });
    return toView({ developerId: dev.id, username: dev.username, role: added.role, createdAt: added.createdAt });
  });
}

async function requireMember(tx: Parameters<typeof requireApplication>[0], applicationId: number, developerId: number) {
  const [m] = await tx
    .select(memberColumns)
    .from(applicationMembers)
    .innerJoin(developers, eq(developers.id, applicationMembers.developerId))
    .where(and(eq(applicationMembers.applicationId, applicationId), eq(applicationMembers.developerId, developerId)))
    .for('update', { of: applicationMembers });
  if (!m) throw notFound('Collaborator');
  return m;
}

export async function updateCollaborator(deps: Deps, actor: SellerActor, applicationId: number, developerId: number, role: CollaboratorRole) {
  return deps.db.orm.transaction(async (tx) => {
    // Membership changes of one application take turns on its row: two admins changing or
    // removing each other would otherwise each hold their own membership and wait for the other's.
    await requireApplication(tx, actor, applicationId, 'admin', 'no key update');
    const member = await requireMember(tx, applicationId, developerId);
    if (member.role === 'owner') throw forbidden("The owner's role cannot be changed");
    await tx
      .update(applicationMembers)
      .set({ role })
      .where(and(eq(applicationMembers.applicationId, applicationId), eq(applicationMembers.developerId, developerId)));
    await writeAudit(tx, actor, { applicationId, action: 'collaborator.updated', target: `developer:${developerId}`, details: { from: member.role, to: role } });
    // A server they linked acts with the admin role they no longer have.
    if (!roleAllows(role, 'admin')) await unlinkGuildsOf(tx, actor, applicationId, developerId, 'collaborator.updated');
    return toView({ ...member, role });
  });
}

/**
 * Admins remove collaborators; anyone but the owner may leave by removing themselves. Either way
 * the servers they linked to the application are unlinked with them (unlink-guild.ts).
 */
export async function removeCollaborator(deps: Deps, actor: SellerActor, applicationId: number, developerId: number) {
  await deps.db.orm.transaction(async (tx) => {
    // Taking turns on the application row, as updateCollaborator does.
    await requireApplication(tx, actor, applicationId, developerId === actor.developerId ? 'read' : 'admin', 'no key update');
    const member = await requireMember(tx, applicationId, developerId);
    if (member.role === 'owner') throw forbidden('The owner cannot be removed');
    await tx.delete(applicationMembers).where(and(eq(applicationMembers.applicationId, applicationId), eq(applicationMembers.developerId, developerId)));
    await writeAudit(tx, actor, { applicationId, action: 'collaborator.removed', target: `developer:${developerId}`, details: { role: member.role } });
    await unlinkGuildsOf(tx, actor, applicationId, developerId, 'collaborator.removed');
  });
  return { message: 'Collaborator removed' };
}
