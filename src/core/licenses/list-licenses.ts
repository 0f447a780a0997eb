import { and, count, desc, eq, ilike, inArray, or, sql, type SQL } from 'drizzle-orm';
import { applicationMembers, licenses, plans, type LicenseStatus } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { toLicenseView } from './license-view.js';

export interface LicenseFilters {
  status?: LicenseStatus | undefined;
  plan_id?: number | undefined;
  search?: string | undefined;
  discord_user_id?: string | undefined;
}

export interface Page {
  page: number;
  perPage: number;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => '\\' + c);

function filterConditions(f: LicenseFilters, now: Date): SQL[] {
  const conds: SQL[] = [];
  // Status filters see the effective status: an active key past its expiry counts as expired.
  if (f.status === 'expired') {
    conds.push(or(eq(licenses.status, 'expired'), and(eq(licenses.status, 'active'), sql`${licenses.expiresAt} <= ${now.toISOString()}`))!);
  } else if (f.status === 'active') {
    conds.push(and(eq(licenses.status, 'active'), sql`(${licenses.expiresAt} is null or ${licenses.expiresAt} > ${now.toISOString()})`)!);
  } else if (f.status) conds.push(eq(licenses.status, f.status));
  if (f.plan_id !== undefined) conds.push(eq(licenses.planId, f.plan_id));
  if (f.discord_user_id) conds.push(eq(licenses.discordUserId, f.discord_user_id));
  if (f.search) {
    const pattern = `%${escapeLike(f.search)}%`;
    conds.push(or(ilike(licenses.licenseKey, pattern), ilike(licenses.notes, pattern))!);
  }
  return conds;
}

async function pageOf(deps: Deps, where: SQL | undefined, page: Page) {
  const now = deps.clock.now();
  const [total] = await deps.db.orm.select({ n: count() }).from(licenses).where(where);
  const rows = await deps.db.orm
    .select({ license: licenses, plan: plans })
    .from(licenses)
    .innerJoin(plans, eq(plans.id, licenses.planId))
    .where(where)
    .orderBy(desc(licenses.id))
    .limit(page.perPage)
    .offset((page.page - 1) * page.perPage);
  return { total: total?.n ?? 0, items: rows.map((r) => toLicenseView(r.license, r.plan, now)) };
}

export async function listLicenses(deps: Deps, actor: SellerActor, applicationId: number, filters: LicenseFilters, page: Page) {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  return pageOf(deps, and(eq(licenses.applicationId, applicationId), ...filterConditions(filters, deps.clock.now())), page);
}

/** "Get My Licenses": every license in every application the seller is part of. */
export async function listMyLicenses(deps: Deps, actor: SellerActor, filters: LicenseFilters, page: Page) {
  const mine = deps.db.orm
    .select({ id: applicationMembers.applicationId })
    .from(applicationMembers)
    .where(eq(applicationMembers.developerId, actor.developerId));
  return pageOf(deps, and(inArray(licenses.applicationId, mine), ...filterConditions(filters, deps.clock.now())), page);
}
