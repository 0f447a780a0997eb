import type { Db } from '../../db/client.js';
import type { licenses, plans } from '../../db/schema.js';
import type { Role } from '../applications/access.js';
import { DEFAULT_HEARTBEAT_INTERVAL_S } from '../applications/application-settings.js';
import { seatColumnsSql, seatUseOf, type SeatUse } from '../licenses/floating-seats.js';
import { leaseColumnsSql, leaseUseOf, type LeaseUse } from '../licenses/lease-state.js';
import { latestNow, rowsByRequest, turnBatchPerDatabase } from '../turn-batch.js';
import { licenseColumnsSql, licenseRowFrom } from '../licenses/license-rows.js';
import { GUILD_LINK_COLUMNS, guildLinkFromRow, type GuildLink, type GuildLinkRow } from './guild-link.js';

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
  ${licenseColumnsSql('l', 'l_')},
  p.name as plan_name, p.duration_days as plan_duration_days,
  ${seatColumnsSql('$2', '$3')},
  ${leaseColumnsSql('$2')}
from jsonb_to_recordset($1::jsonb) as q(i int, guild_id text, license_key text)
join discord_guilds g on g.guild_id = q.guild_id
join applications a on a.id = g.application_id
left join application_members m on m.application_id = g.application_id and m.developer_id = g.developer_id
left join licenses l on l.application_id = g.application_id and l.license_key = q.license_key
left join plans p on p.id = l.plan_id`;

type Row = GuildLinkRow &
  Record<string, unknown> & {
    i: number;
    role: Role | null;
    /** null when the server has no license of that key; the rest of the license's `l_` columns with it (license-rows.ts). */
    l_id: number | null;
    l_plan_id: number;
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
  const row = licenseRowFrom(r, 'l_');
  return { link, role: r.role, license: { row, plan: { id: r.l_plan_id, name: r.plan_name, durationDays: r.plan_duration_days }, seats: seatUseOf(r), leases: leaseUseOf(r) } };
}
