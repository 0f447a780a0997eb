import type { Db } from '../../db/client.js';
import type { LicenseStatus } from '../../db/schema.js';
import type { CustomerLicense } from '../customers/customer-licenses.js';
import { DEFAULT_HEARTBEAT_INTERVAL_S } from '../applications/application-settings.js';
import { seatColumnsSql, seatUseOf } from '../licenses/floating-seats.js';
import { leaseColumnsSql, leaseUseOf } from '../licenses/lease-state.js';
import { effectiveStatus } from '../licenses/license-view.js';
import { latestNow, rowsByRequest, turnBatchPerDatabase } from '../turn-batch.js';
import { GUILD_LINK_COLUMNS, guildLinkFromRow, type GuildLink, type GuildLinkRow } from './guild-link.js';
import { toDateOrNull } from '../../db/timestamps.js';

// One row per license of the user in the linked application on the page asked for (oldest
// first), each with how many they have in all, or one row with no license when they have none; no
// row at all when the server is not linked. A page past the end is the last one: the offset the
// page was read at (`skipped`) comes back, so the caller names the page it shows from it. Reads
// that arrive in the same turn share one statement, told apart by ordinality `i`.
const SELECT = `select q.i::int as i, ${GUILD_LINK_COLUMNS}, c.total, o.skipped, x.id, x.license_key, x.status, x.expires_at, x.hwid_bound, x.plan_name, x.seats_max, x.seats_used, x.leases_active, x.leases_until
from unnest($1::text[], $2::text[], $5::int[], $6::int[]) with ordinality as q(guild_id, discord_user_id, skip, take, i)
join discord_guilds g on g.guild_id = q.guild_id
join applications a on a.id = g.application_id
cross join lateral (
  select count(*)::int as total from licenses l
  where l.application_id = g.application_id and l.discord_user_id = q.discord_user_id) c
cross join lateral (select least(q.skip, greatest(c.total - 1, 0) / q.take * q.take)::int as skipped) o
left join lateral (
  select l.id, l.license_key, l.status, l.expires_at, cardinality(l.hwids) > 0 as hwid_bound, p.name as plan_name,
    ${seatColumnsSql('$3', '$4')},
    ${leaseColumnsSql('$3')}
  from licenses l join plans p on p.id = l.plan_id
  where l.application_id = g.application_id and l.discord_user_id = q.discord_user_id
  order by l.id offset o.skipped limit q.take) x on true
order by q.i, x.id`;

type Row = GuildLinkRow & {
  i: number;
  total: number;
  skipped: number;
  id: number | null;
  license_key: string;
  status: LicenseStatus;
  expires_at: Date | string | null;
  hwid_bound: boolean;
  plan_name: string;
  seats_max: number | null;
  seats_used: number | null;
  leases_active: number | null;
  leases_until: Date | string | null;
};

interface ReadRequest {
  guildId: string;
  discordUserId: string;
  now: Date;
  offset: number;
  limit: number;
}

/** Which of a customer's licenses to read: `limit` of them after the first `offset` (oldest first). */
export interface CustomerLicenseWindow {
  offset: number;
  limit: number;
}

/** One statement for the batch, at its latest `now` (its reads arrived within the same turn). */
const reads = turnBatchPerDatabase(async (db: Db, batch: ReadRequest[]) => {
  const now = latestNow(batch);
  const rows = await db.query<Row>(SELECT, [
    batch.map((r) => r.guildId),
    batch.map((r) => r.discordUserId),
    now.toISOString(),
    DEFAULT_HEARTBEAT_INTERVAL_S,
    batch.map((r) => r.offset),
    batch.map((r) => r.limit),
  ]);
  return rowsByRequest(batch.length, rows);
});

/**
 * The customer's side in one query: the server's link (null when not linked), how many licenses
 * the Discord user owns in the linked application (`total`) and those of `window` (an offset past
 * the end reads the last `limit`-sized page; `offset` is the one read), with the status every door shows. There is no
 * default window: a caller says which page it shows, so none is cut short without saying so.
 */
export async function readCustomerLicenses(
  db: Db,
  guildId: string,
  discordUserId: string,
  now: Date,
  window: CustomerLicenseWindow,
): Promise<{ link: GuildLink; total: number; offset: number; licenses: CustomerLicense[] } | null> {
  const rows = await reads(db).add({ guildId, discordUserId, now, offset: Math.max(0, Math.trunc(window.offset)), limit: Math.max(1, Math.trunc(window.limit)) });
  const first = rows[0];
  if (!first) return null;
  const licenses = rows
    .filter((r) => r.id !== null)
    .map((r) => {
      const expiresAt = toDateOrNull(r.expires_at);
      return {
        id: r.id!,
        licenseKey: r.license_key,
        planName: r.plan_name,
        status: effectiveStatus(r.status, expiresAt, now),
        expiresAt,
        hwidBound: r.hwid_bound,
        seats: seatUseOf(r),
        leases: leaseUseOf(r),
      };
    });
  return { link: guildLinkFromRow(first), total: first.total, offset: first.skipped, licenses };
}
