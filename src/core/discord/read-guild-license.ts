import type { Db } from '../../db/client.js';
import type { LicenseStatus, licenses, plans } from '../../db/schema.js';
import type { Role } from '../applications/access.js';
import { DEFAULT_HEARTBEAT_INTERVAL_S } from '../applications/application-settings.js';
import { seatColumnsSql, seatUseOf, type SeatUse } from '../licenses/floating-seats.js';
import { leaseColumnsSql, leaseUseOf, type LeaseUse } from '../licenses/lease-state.js';
import { latestNow, rowsByRequest, turnBatchPerDatabase } from '../turn-batch.js';
import { GUILD_LINK_COLUMNS, guildLinkFromRow, toDate, type GuildLink, type GuildLinkRow } from './guild-link.js';

type LicenseRow = typeof licenses.$inferSelect;
type PlanRef = Pick<typeof plans.$inferSelect, 'id' | 'name' | 'durationDays'>;

export interface GuildLicenseRead {
  link: GuildLink;
  /** The linking developer's role in the linked application; null once they are no longer part of it. */
  role: Role | null;
  /** The license with that key in the linked application, if there is one. */
  license: { row: LicenseRow; plan: PlanRef; seats: SeatUse | null; leases: LeaseUse | null } | null;
}

// The license is matched inside the linked application only: a key of another application of
// the same developer is not found, exactly like a key that does not exist.
// Reads that arrive in the same turn share one statement (an index probe each), told apart by `i`.
// The batch travels as JSON, not as arrays: with arrays Postgres sees each batch's length while it
// plans, finds every custom plan cheaper than its generic one and re-plans this six-table read on
// every execution (pg_prepared_statements: 0 generic plans of 30); jsonb_to_recordset's estimate
// does not depend on the batch, so the prepared statement keeps one generic plan (Postgres CPU per
// /license info 175 → 59 µs on bench:discord).
const SELECT = `select q.i::int as i, ${GUILD_LINK_COLUMNS}, m.role,
  l.id as l_id, l.plan_id as l_plan_id, l.license_key as l_license_key, l.status as l_status, l.duration_days as l_duration_days,
  l.hwids as l_hwids, l.activated_at as l_activated_at, l.expires_at as l_expires_at, l.ip_address as l_ip_address,
  l.last_used as l_last_used, l.notes as l_notes, l.discord_user_id as l_discord_user_id, l.ban_reason as l_ban_reason,
  l.last_hwid_reset_at as l_last_hwid_reset_at, l.job_id as l_job_id, l.created_at as l_created_at, l.updated_at as l_updated_at,
  p.name as plan_name, p.duration_days as plan_duration_days,
  ${seatColumnsSql('$2', '$3')},
  ${leaseColumnsSql('$2')}
from jsonb_to_recordset($1::jsonb) as q(i int, guild_id text, license_key text)
join discord_guilds g on g.guild_id = q.guild_id
join applications a on a.id = g.application_id
left join application_members m on m.application_id = g.application_id and m.developer_id = g.developer_id
left join licenses l on l.application_id = g.application_id and l.license_key = q.license_key
left join plans p on p.id = l.plan_id`;

type Row = GuildLinkRow & {
  i: number;
  role: Role | null;
  l_id: number | null;
  l_plan_id: number;
  l_license_key: string;
  l_status: LicenseStatus;
  l_duration_days: number;
  l_hwids: string[];
  l_activated_at: Date | string | null;
  l_expires_at: Date | string | null;
  l_ip_address: string | null;
  l_last_used: Date | string | null;
  l_notes: string | null;
  l_discord_user_id: string | null;
  l_ban_reason: string | null;
  l_last_hwid_reset_at: Date | string | null;
  l_job_id: number | null;
  l_created_at: Date | string;
  l_updated_at: Date | string;
  plan_name: string;
  plan_duration_days: number;
  seats_max: number | null;
  seats_used: number | null;
  leases_active: number | null;
  leases_until: Date | string | null;
};

interface ReadRequest {
  guildId: string;
  licenseKey: string | null;
  now: Date;
}

/** One statement for the batch, at its latest `now` (its reads arrived within the same turn). */
const reads = turnBatchPerDatabase(async (db: Db, batch: ReadRequest[]) => {
  const now = latestNow(batch);
  const entries = JSON.stringify(batch.map((r, i) => ({ i: i + 1, guild_id: r.guildId, license_key: r.licenseKey })));
  const rows = await db.query<Row>(SELECT, [entries, now.toISOString(), DEFAULT_HEARTBEAT_INTERVAL_S]);
  return rowsByRequest(batch.length, rows);
});

const orNull = (v: Date | string | null) => (v === null ? null : toDate(v));

/**
 * What a seller command about one license needs, in one query: the server's link (null when the
 * server is not linked), the linking developer's role, and the license of that key (already
 * normalised) in the linked application, with its floating seats in use and offline leases live
 * at `now`. Nothing is cached, so an unlink or a removed member shows on the very next command,
 * from any process.
 */
export async function readGuildLicense(db: Db, guildId: string, licenseKey: string | null, now: Date): Promise<GuildLicenseRead | null> {
  const [r] = await reads(db).add({ guildId, licenseKey, now });
  if (!r) return null;
  const link = guildLinkFromRow(r);
  if (r.l_id === null) return { link, role: r.role, license: null };
  const row: LicenseRow = {
    id: r.l_id,
    applicationId: r.application_id,
    planId: r.l_plan_id,
    licenseKey: r.l_license_key,
    status: r.l_status,
    durationDays: r.l_duration_days,
    hwids: r.l_hwids,
    activatedAt: orNull(r.l_activated_at),
    expiresAt: orNull(r.l_expires_at),
    ipAddress: r.l_ip_address,
    lastUsed: orNull(r.l_last_used),
    notes: r.l_notes,
    discordUserId: r.l_discord_user_id,
    banReason: r.l_ban_reason,
    lastHwidResetAt: orNull(r.l_last_hwid_reset_at),
    jobId: r.l_job_id,
    createdAt: toDate(r.l_created_at),
    updatedAt: toDate(r.l_updated_at),
  };
  return { link, role: r.role, license: { row, plan: { id: r.l_plan_id, name: r.plan_name, durationDays: r.plan_duration_days }, seats: seatUseOf(r), leases: leaseUseOf(r) } };
}
