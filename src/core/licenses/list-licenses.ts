import { and, count, eq, ilike, inArray, or, sql, sum, type SQL } from 'drizzle-orm';
import { applicationMembers, licenseCounts, licenses, plans, type LicenseStatus } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { containsPattern } from '../like-pattern.js';
import { licenseColumnsSql, licenseRowFrom } from './license-rows.js';
import { rowsOf } from '../../db/client.js';
import { pageIdsQuery } from '../page-ids.js';
import { EXPIRING_STATUSES, toLicenseView } from './license-view.js';

export interface LicenseFilters {
  status?: LicenseStatus | undefined;
  plan_id?: number | undefined;
  search?: string | undefined;
  discord_user_id?: string | undefined;
}

export interface Page {
  page: number;
  perPage: number;
  /** Keyset continuation: the page starts after (below) this license id, whatever `page` says. */
  afterId?: number | undefined;
}

const hasFilters = (f: LicenseFilters) => f.status !== undefined || f.plan_id !== undefined || !!f.search || !!f.discord_user_id;

/** The conditions of a license filter, as the list, the export and the bulk actions read it. */
export function filterConditions(f: LicenseFilters, now: Date): SQL[] {
  const conds: SQL[] = [];
  // Status filters see the effective status (the one rule of expiry, `effectiveStatus`): an
  // active or inactive key past its end counts as expired. Spelled out rather than through
  // `effectiveStatusSql` so that the stored status still narrows the scan.
  const at = sql`${now.toISOString()}::timestamptz`;
  if (f.status === 'expired') {
    conds.push(or(eq(licenses.status, 'expired'), and(inArray(licenses.status, [...EXPIRING_STATUSES]), sql`${licenses.expiresAt} <= ${at}`))!);
  } else if (f.status && (EXPIRING_STATUSES as readonly LicenseStatus[]).includes(f.status)) {
    conds.push(and(eq(licenses.status, f.status), sql`(${licenses.expiresAt} is null or ${licenses.expiresAt} > ${at})`)!);
  } else if (f.status) conds.push(eq(licenses.status, f.status));
  if (f.plan_id !== undefined) conds.push(eq(licenses.planId, f.plan_id));
  if (f.discord_user_id) conds.push(eq(licenses.discordUserId, f.discord_user_id));
  if (f.search) {
    const pattern = containsPattern(f.search);
    conds.push(or(ilike(licenses.licenseKey, pattern), ilike(licenses.notes, pattern))!);
  }
  return conds;
}

/** A page's licenses with their plans (drizzle's whole-table select cost more CPU than the statement: license-rows.ts). */
const PAGE_COLUMNS = `${licenseColumnsSql('l')}, p.id as plan_ref_id, p.name as plan_name, p.duration_days as plan_duration_days`;

/**
 * One page, newest first. The page's ids are found first on the (application_id, id) index —
 * an index-only walk, so page 1,000 skips 50,000 index entries rather than 50,000 joined rows,
 * and a keyset page (`afterId`) skips none — then only those rows are read and joined. One row
 * more than the page tells whether another page follows.
 */
async function pageOf(deps: Deps, where: SQL | undefined, page: Page, total: Total) {
  const now = deps.clock.now();
  // bigint: cursors are shared with the logs, whose ids may pass int4; the index still serves it.
  const bound = page.afterId === undefined ? undefined : sql`${licenses.id} < ${page.afterId}::bigint`;
  const window = { offset: page.afterId === undefined ? (page.page - 1) * page.perPage : 0, size: page.perPage };
  const read = async (ids: SQL) =>
    rowsOf<Record<string, unknown>>(await deps.db.orm.execute(sql`select ${sql.raw(PAGE_COLUMNS)} from ${licenses} l join ${plans} p on p.id = l.plan_id where l.id in ${ids} order by l.id desc`)).map(
      (r) => ({ license: licenseRowFrom(r), plan: { id: Number(r.plan_ref_id), name: String(r.plan_name), durationDays: Number(r.plan_duration_days) } }),
    );
  let n: number;
  let rows: Awaited<ReturnType<typeof read>>;
  let more: boolean | undefined;
  if (total.exact && window.offset > 0) {
    // A far page number: the exact total first, so a page past the middle is read from the oldest end.
    n = await total.count();
    const page = pageIdsQuery(licenses.id, and(where, bound), window, n);
    rows = await read(page.ids);
    more = page.more;
  } else {
    [n, rows] = await Promise.all([total.count(), read(pageIdsQuery(licenses.id, and(where, bound), window).ids)]);
  }
  return {
    total: n,
    items: rows.slice(0, page.perPage).map((r) => toLicenseView(r.license, r.plan, now)),
    more: more ?? rows.length > page.perPage,
  };
}

/** How a list's total is had: `exact` when it is the triggers' counter, cheap and exact. */
interface Total {
  exact: boolean;
  count(): Promise<number>;
}

/** Unfiltered, the total is the triggers' counter (no scan); a filter counts its matches. */
function totalOf(deps: Deps, where: SQL | undefined, filters: LicenseFilters, counted: SQL): Total {
  if (hasFilters(filters)) {
    return {
      exact: false,
      count: async () => {
        const [row] = await deps.db.orm.select({ n: count() }).from(licenses).where(where);
        return row?.n ?? 0;
      },
    };
  }
  return {
    exact: true,
    count: async () => {
      const [row] = await deps.db.orm
        .select({ n: sum(licenseCounts.licenses) })
        .from(licenseCounts)
        .where(counted);
      return Number(row?.n ?? 0);
    },
  };
}

export async function listLicenses(deps: Deps, actor: SellerActor, applicationId: number, filters: LicenseFilters, page: Page) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const where = and(eq(licenses.applicationId, applicationId), ...filterConditions(filters, deps.clock.now()));
  return pageOf(deps, where, page, totalOf(deps, where, filters, eq(licenseCounts.applicationId, applicationId)));
}

/** "Get My Licenses": every license in every application the seller is part of. */
export async function listMyLicenses(deps: Deps, actor: SellerActor, filters: LicenseFilters, page: Page) {
  const mine = deps.db.orm.select({ id: applicationMembers.applicationId }).from(applicationMembers).where(eq(applicationMembers.developerId, actor.developerId));
  const where = and(inArray(licenses.applicationId, mine), ...filterConditions(filters, deps.clock.now()));
  return pageOf(deps, where, page, totalOf(deps, where, filters, inArray(licenseCounts.applicationId, mine)));
}
