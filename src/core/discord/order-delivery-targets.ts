import type { Db } from '../../db/client.js';

export interface OrderDeliveryTargets {
  applicationName: string;
  /** The plan's role, granted in every linked server; null when the plan grants none. */
  roleId: string | null;
  /**
   * The servers linked to the application, but for those whose seller role is the plan's role:
   * that role runs seller commands with the linking admin's rights, and a buyer never gets it.
   */
  guildIds: string[];
}

const TARGETS = `select a.name, p.discord_role_id,
  coalesce((select array_agg(g.guild_id order by g.guild_id) from discord_guilds g
    where g.application_id = a.id and g.seller_role_id is distinct from p.discord_role_id), '{}') as guild_ids
from applications a left join plans p on p.id = $2 and p.application_id = a.id
where a.id = $1`;

/** Where a store order's keys go on Discord besides the buyer's DMs: one query; null once the application is gone. */
export async function orderDeliveryTargets(db: Db, applicationId: number, planId: number): Promise<OrderDeliveryTargets | null> {
  const [row] = await db.query<{ name: string; discord_role_id: string | null; guild_ids: string[] }>(TARGETS, [applicationId, planId]);
  return row ? { applicationName: row.name, roleId: row.discord_role_id, guildIds: row.guild_ids } : null;
}
