import { and, eq } from 'drizzle-orm';
import { discordGuilds } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { badRequest } from '../errors.js';

/**
 * Refuses a plan role that is the seller role of a server linked to the application. The bot
 * grants a plan's role to whoever redeems one of its keys, and the seller role (`/setup
 * seller_role`) lets its holder run seller commands with the rights of the admin who linked the
 * server: such a plan would make every buyer a seller, and would let a manager — who may edit
 * plans but not the application — redeem a key of it and act as that admin.
 */
export async function assertGrantablePlanRole(tx: Executor, applicationId: number, roleId: string | null | undefined): Promise<void> {
  if (!roleId) return;
  const [linked] = await tx
    .select({ guildId: discordGuilds.guildId })
    .from(discordGuilds)
    .where(and(eq(discordGuilds.applicationId, applicationId), eq(discordGuilds.sellerRoleId, roleId)))
    .limit(1);
  if (linked) {
    throw badRequest('discord_role_id is the seller role of a Discord server linked to this application; a plan may not grant it', 'VALIDATION_ERROR', [
      { path: 'discord_role_id', message: 'the seller role of a linked Discord server' },
    ]);
  }
}
