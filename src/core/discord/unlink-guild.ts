import { and, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { discordGuilds } from '../../db/schema.js';
import type { Actor, SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit, writeAudits } from '../audit.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';

/** Why a server's link ended without anyone unlinking it: the linking developer lost the admin role. */
export type UnlinkReason = 'collaborator.removed' | 'collaborator.updated';

/**
 * A server stays linked only while the developer who linked it may administer the application:
 * the link acts with their rights (seller commands) and on the application's behalf (customers
 * redeem its keys there, its alerts are posted there). So whatever takes that role away calls
 * this in the same transaction, and the readers never need to check the role again.
 */
export async function unlinkGuildsOf(tx: Executor, actor: Actor, applicationId: number, developerId: number, reason: UnlinkReason): Promise<string[]> {
  const unlinked = await tx
    .delete(discordGuilds)
    .where(and(eq(discordGuilds.applicationId, applicationId), eq(discordGuilds.developerId, developerId)))
    .returning({ guildId: discordGuilds.guildId });
  await writeAudits(
    tx,
    actor,
    unlinked.map((g) => ({ applicationId, action: 'discord.unlinked', target: `guild:${g.guildId}`, details: { developer_id: developerId, reason } })),
  );
  return unlinked.map((g) => g.guildId);
}

/**
 * Admins (and the owner) unlink a server from the application, whoever linked it. A server not
 * linked to this application is "not found", exactly like one linked to another application.
 */
export async function unlinkGuild(deps: Deps, actor: SellerActor, applicationId: number, guildId: string) {
  await deps.db.orm.transaction(async (tx) => {
    await requireApplication(tx, actor, applicationId, 'admin');
    const [unlinked] = await tx
      .delete(discordGuilds)
      .where(and(eq(discordGuilds.applicationId, applicationId), eq(discordGuilds.guildId, guildId)))
      .returning({ developerId: discordGuilds.developerId });
    if (!unlinked) throw notFound('Discord server');
    await writeAudit(tx, actor, { applicationId, action: 'discord.unlinked', target: `guild:${guildId}`, details: { developer_id: unlinked.developerId, reason: 'unlinked' } });
  });
  return { message: 'Discord server unlinked' };
}
