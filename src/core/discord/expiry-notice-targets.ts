import type { Db } from '../../db/client.js';

export interface ExpiryNoticeTargets {
  applicationName: string;
  /** The log channels of every server linked to the application. */
  logChannelIds: string[];
}

const TARGETS = `select a.name,
  coalesce((select array_agg(g.log_channel_id order by g.guild_id) from discord_guilds g
            where g.application_id = a.id and g.log_channel_id is not null), '{}') as log_channel_ids
from applications a where a.id = $1`;

/**
 * Where an expiry notice of an application goes besides the owner's DMs: its name for the text,
 * and the log channel of each server linked to it — one query. Null once the application is gone.
 */
export async function expiryNoticeTargets(db: Db, applicationId: number): Promise<ExpiryNoticeTargets | null> {
  const [row] = await db.query<{ name: string; log_channel_ids: string[] }>(TARGETS, [applicationId]);
  return row ? { applicationName: row.name, logChannelIds: row.log_channel_ids } : null;
}
