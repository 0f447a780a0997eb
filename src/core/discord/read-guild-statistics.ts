import type { Db } from '../../db/client.js';
import type { LicenseStatus } from '../../db/schema.js';
import type { Role } from '../applications/access.js';
import { effectiveStatusText } from '../licenses/license-view.js';
import { rowsByRequest, turnBatchPerDatabase } from '../turn-batch.js';
import { GUILD_LINK_COLUMNS, guildLinkFromRow, type GuildLink, type GuildLinkRow } from './guild-link.js';

const DAY = 86_400_000;

/** A UTC day of /stats' chart: the daily counters, and the licenses first activated that day. */
interface StatisticsDay {
  date: string;
  validations: number;
  failures: number;
  /** New licenses: keys generated that day. */
  generated: number;
  activations: number;
}

/** The part of the seller statistics (API.md) that /stats shows, with the same definitions. */
interface GuildStatistics {
  licenses: Record<LicenseStatus | 'total', number>;
  validations: { last_24h: number; last_7d: number; success_rate: number | null };
  /** The last `CHART_DAYS` UTC days, oldest first, today last. */
  daily: StatisticsDay[];
}

/** Days the /stats chart covers. */
const CHART_DAYS = 30;

export interface GuildStatisticsRead {
  link: GuildLink;
  role: Role | null;
  statistics: GuildStatistics;
}

/**
 * How long an application's /stats figures are reused in this process. Counting licenses by
 * status reads every license of the application (most of a /stats' cost, growing with the
 * application), while the validation counters reach the database only at each usage flush, so the
 * figures are seconds behind by design anyway. The link and the role are never reused: who may
 * see the figures is read fresh on every command.
 */
const GUILD_STATISTICS_TTL_MS = 2_000;

// The link and role alone, for commands whose figures this process has: those arriving in the
// same turn share one statement (as /license info's reads do), the batch as JSON so the prepared
// statement keeps one generic plan (read-guild-license.ts).
const LINKS = `select q.i::int as i, ${GUILD_LINK_COLUMNS}, m.role
from jsonb_to_recordset($1::jsonb) as q(i int, guild_id text)
join discord_guilds g on g.guild_id = q.guild_id
join applications a on a.id = g.application_id
left join application_members m on m.application_id = g.application_id and m.developer_id = g.developer_id`;

// One read of the application's licenses, grouped by effective status (the one rule of expiry,
// as everywhere) and by the UTC day of their first activation when it falls in the chart's days
// (activated_at is set once, by the first activation, and never cleared): the status counts and
// the activations per day come from the same scan. Then the daily counters of the chart's days
// (validations, failures, keys generated), the last of which is "last 24 h".
const LINK_AND_FIGURES = `select ${GUILD_LINK_COLUMNS}, m.role,
  (select coalesce(json_agg(json_build_array(s.status, s.day, s.n)), '[]'::json) from (
     select ${effectiveStatusText('l', '$2')} as status,
       case when l.activated_at >= $3::timestamptz then to_char(l.activated_at at time zone 'UTC', 'YYYY-MM-DD') end as day,
       count(*)::int as n
     from licenses l where l.application_id = g.application_id group by 1, 2) s) as licenses,
  (select coalesce(json_agg(json_build_array(to_char(d.day, 'YYYY-MM-DD'), d.validations, d.failures, d.generated)), '[]'::json)
     from daily_counters d where d.application_id = g.application_id and d.day between $4::date and $5::date) as counters
from discord_guilds g
join applications a on a.id = g.application_id
left join application_members m on m.application_id = g.application_id and m.developer_id = g.developer_id
where g.guild_id = $1`;

type LinkRow = GuildLinkRow & { role: Role | null };

const links = turnBatchPerDatabase(async (db: Db, guildIds: string[]) => {
  const rows = await db.query<LinkRow & { i: number }>(LINKS, [JSON.stringify(guildIds.map((guild_id, i) => ({ i: i + 1, guild_id })))]);
  return rowsByRequest(guildIds.length, rows);
});

type FiguresRow = LinkRow & {
  /** [effective status, UTC day of first activation within the chart's days or null, count] */
  licenses: [LicenseStatus, string | null, number][];
  /** [day, validations, failures, generated] */
  counters: [string, number, number, number][];
};

const utcDay = (at: number) => new Date(at).toISOString().slice(0, 10);

interface Entry {
  statistics: GuildStatistics;
  /** The UTC day the figures were counted for: a new day starts a new "today". */
  day: string;
  staleAt: number;
}

/**
 * Figures by application, each for `ttlMs`, and which application each server was last linked
 * to (so a command knows whether fresh figures are likely before it reads the link). Both maps
 * drop their oldest entry past `maxEntries`.
 */
class StatisticsCache {
  private readonly entries = new Map<number, Entry>();
  private readonly applicationOfGuild = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(applicationId: number | undefined, day: string): GuildStatistics | undefined {
    const hit = applicationId === undefined ? undefined : this.entries.get(applicationId);
    return hit && hit.day === day && hit.staleAt > Date.now() ? hit.statistics : undefined;
  }

  applicationOf(guildId: string): number | undefined {
    return this.applicationOfGuild.get(guildId);
  }

  remember(guildId: string, applicationId: number, day: string, statistics: GuildStatistics): void {
    bounded(this.entries, this.maxEntries).set(applicationId, { statistics, day, staleAt: Date.now() + this.ttlMs });
    bounded(this.applicationOfGuild, this.maxEntries).set(guildId, applicationId);
  }
}

/** `map` with room for one more key (Map iterates in insertion order: the first is the oldest). */
function bounded<K, V>(map: Map<K, V>, max: number): Map<K, V> {
  if (map.size >= max) map.delete(map.keys().next().value!);
  return map;
}

// One cache per database client, so instances sharing a process but not a database never mix.
const caches = new WeakMap<Db, StatisticsCache>();
function cacheOf(db: Db): StatisticsCache {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new StatisticsCache(GUILD_STATISTICS_TTL_MS)));
  return cache;
}

function figuresFrom(r: FiguresRow, days: string[]): GuildStatistics {
  const counts = { inactive: 0, active: 0, expired: 0, banned: 0 };
  const activations = new Map<string, number>();
  for (const [status, day, n] of r.licenses) {
    counts[status] += Number(n);
    if (day) activations.set(day, (activations.get(day) ?? 0) + Number(n));
  }
  const counters = new Map(r.counters.map((c) => [c[0], c]));
  const daily = days.map((date) => {
    const c = counters.get(date);
    return { date, validations: Number(c?.[1] ?? 0), failures: Number(c?.[2] ?? 0), generated: Number(c?.[3] ?? 0), activations: activations.get(date) ?? 0 };
  });
  // Counters are per UTC day: "last 24 h" is today's row and "last 7 d" the last seven rows.
  const week = daily.slice(-7).reduce((a, d) => a + d.validations, 0);
  const weekFailures = daily.slice(-7).reduce((a, d) => a + d.failures, 0);
  return {
    licenses: { total: counts.inactive + counts.active + counts.expired + counts.banned, ...counts },
    validations: {
      last_24h: daily.at(-1)!.validations,
      last_7d: week,
      success_rate: week === 0 ? null : Math.round(((week - weekFailures) / week) * 10_000) / 10_000,
    },
    daily,
  };
}

/**
 * /stats: the server's link (null when not linked), the linking developer's role, and the
 * figures — in one query: the link and role alone when this process counted the linked
 * application's figures moments ago, else the link, role and figures together. (Two only when
 * the figures went stale in between, or the server was linked to another application.)
 */
export async function readGuildStatistics(db: Db, guildId: string, now: Date): Promise<GuildStatisticsRead | null> {
  const cache = cacheOf(db);
  const today = utcDay(now.getTime());
  if (cache.get(cache.applicationOf(guildId), today)) {
    const [linked] = await links(db).add(guildId);
    if (!linked) return null;
    const cached = cache.get(linked.application_id, today);
    if (cached) return { link: guildLinkFromRow(linked), role: linked.role, statistics: cached };
  }
  const days = Array.from({ length: CHART_DAYS }, (_, i) => utcDay(now.getTime() - (CHART_DAYS - 1 - i) * DAY));
  const [r] = await db.query<FiguresRow>(LINK_AND_FIGURES, [guildId, now.toISOString(), `${days[0]}T00:00:00.000Z`, days[0], today]);
  if (!r) return null;
  const statistics = figuresFrom(r, days);
  cache.remember(guildId, r.application_id, today, statistics);
  return { link: guildLinkFromRow(r), role: r.role, statistics };
}
