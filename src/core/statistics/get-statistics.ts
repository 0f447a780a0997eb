import { and, eq, gte, sql } from 'drizzle-orm';
import { idIn } from '../../db/id-in.js';
import { appUsers, applicationMembers, dailyCounters, licenses } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { effectiveStatusSql } from '../licenses/license-view.js';

const DAY = 86_400_000;

/**
 * API.md's statistics, from the daily counters (validations, failures, generated) and one grouped
 * count of licenses by status — no scan of validation history per request.
 */
export async function getStatistics(deps: Deps, actor: SellerActor, applicationId?: number) {
  let appIds: number[];
  if (applicationId !== undefined) {
    await requireApplication(deps.db.orm, actor, applicationId, 'read');
    appIds = [applicationId];
  } else {
    const rows = await deps.db.orm.select({ id: applicationMembers.applicationId }).from(applicationMembers).where(eq(applicationMembers.developerId, actor.developerId));
    appIds = rows.map((r) => r.id);
  }
  const now = deps.clock.now();
  const statuses = { inactive: 0, active: 0, expired: 0, banned: 0 };
  const days = Array.from({ length: 30 }, (_, i) => new Date(now.getTime() - (29 - i) * DAY).toISOString().slice(0, 10));
  if (appIds.length === 0) {
    return {
      licenses: { total: 0, ...statuses },
      users: { total: 0 },
      validations: { last_24h: 0, last_7d: 0, success_rate: null },
      daily: days.map((date) => ({ date, validations: 0, failures: 0, generated: 0 })),
    };
  }
  const byStatus = await deps.db.orm
    .select({
      status: effectiveStatusSql(now),
      n: sql<number>`count(*)::int`,
    })
    .from(licenses)
    .where(idIn(licenses.applicationId, appIds))
    .groupBy(sql`1`);
  for (const r of byStatus) statuses[r.status as keyof typeof statuses] += Number(r.n);
  const counters = await deps.db.orm
    .select({
      day: dailyCounters.day,
      validations: sql<number>`sum(${dailyCounters.validations})::int`,
      failures: sql<number>`sum(${dailyCounters.failures})::int`,
      generated: sql<number>`sum(${dailyCounters.generated})::int`,
    })
    .from(dailyCounters)
    .where(and(idIn(dailyCounters.applicationId, appIds), gte(dailyCounters.day, days[0]!)))
    .groupBy(dailyCounters.day);
  const [users] = await deps.db.orm.select({ n: sql<number>`count(*)::int` }).from(appUsers).where(idIn(appUsers.applicationId, appIds));
  const byDay = new Map(counters.map((c) => [c.day, c]));
  const daily = days.map((date) => ({
    date,
    validations: Number(byDay.get(date)?.validations ?? 0),
    failures: Number(byDay.get(date)?.failures ?? 0),
    generated: Number(byDay.get(date)?.generated ?? 0),
  }));
  // Counters are per UTC day: "last 24 h" is today's row and "last 7 d" the last seven rows.
  const sum = (n: number, key: 'validations' | 'failures') => daily.slice(-n).reduce((a, d) => a + d[key], 0);
  const week = sum(7, 'validations');
  return {
    licenses: { total: Object.values(statuses).reduce((a, b) => a + b, 0), ...statuses },
    users: { total: Number(users?.n ?? 0) },
    validations: {
      last_24h: sum(1, 'validations'),
      last_7d: week,
      success_rate: week === 0 ? null : Math.round(((week - sum(7, 'failures')) / week) * 10_000) / 10_000,
    },
    daily,
  };
}
