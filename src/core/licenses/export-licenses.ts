import { and, asc, count, eq, gt } from 'drizzle-orm';
import { LICENSE_STATUSES, licenses, plans, type LicenseStatus } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { badRequest, notFound } from '../errors.js';
import { effectiveStatus } from './license-view.js';
import { filterConditions, type LicenseFilters } from './list-licenses.js';
import { INT4_MAX } from '../../db/int4.js';

/** The columns of an export: those of the license view, flattened for a spreadsheet. */
export const EXPORT_COLUMNS = ['id', 'license_key', 'status', 'plan', 'activation_date', 'expires_at', 'hwids', 'ip_address', 'last_used', 'notes', 'discord_user_id', 'created_at'] as const;

/** As the HTTP list's `search` (src/http/routes/licenses.ts). */
export const MAX_EXPORT_SEARCH = 200;

/** Rows read per query: a keyset step on the (application_id, id) index, ~150 KB of CSV. */
const EXPORT_BATCH = 1000;

/**
 * Cells a spreadsheet would run as a formula (=, +, -, @, and tab or CR, which some strip before
 * looking) get a leading apostrophe: shown as text, never evaluated (OWASP "CSV injection").
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled. */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record, CRLF-terminated as RFC 4180 has it. */
const csvLine = (cells: readonly (string | number | null)[]) => `${cells.map(csvCell).join(',')}\r\n`;

export interface ExportFilters {
  status?: string | undefined;
  plan_id?: number | undefined;
  search?: string | undefined;
}

/** A batch of CSV text and how many licenses it holds (0 for the header). */
interface ExportChunk {
  text: string;
  rows: number;
}

export interface LicenseExport {
  /** Licenses matching the filters when the export started. */
  total: number;
  /** The header, then the licenses oldest first, a batch at a time: never all of them in memory. */
  chunks(): AsyncGenerator<ExportChunk>;
}

function checkedFilters(input: ExportFilters): LicenseFilters {
  if (input.status !== undefined && !(LICENSE_STATUSES as readonly string[]).includes(input.status)) {
    throw badRequest(`status must be one of ${LICENSE_STATUSES.join(', ')}.`);
  }
  if (input.plan_id !== undefined && (!Number.isInteger(input.plan_id) || input.plan_id < 1 || input.plan_id > INT4_MAX)) throw notFound('Plan');
  if (input.search !== undefined && input.search.length > MAX_EXPORT_SEARCH) throw badRequest(`search is at most ${MAX_EXPORT_SEARCH} characters.`);
  return { status: input.status as LicenseStatus | undefined, plan_id: input.plan_id, search: input.search || undefined };
}

/**
 * An export of an application's licenses as CSV (what /export attaches): checks the seller may
 * read the application and the plan is one of its own, counts the matches, audits the export
 * (it hands out every matching key), and returns the rows as a stream of CSV batches read by
 * keyset, so 100,000 licenses never sit in memory at once. Statuses are effective at the start.
 */
export async function startLicenseExport(deps: Deps, actor: SellerActor, applicationId: number, input: ExportFilters): Promise<LicenseExport> {
  const filters = checkedFilters(input);
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  if (filters.plan_id !== undefined) {
    const [plan] = await deps.db.orm
      .select({ id: plans.id })
      .from(plans)
      .where(and(eq(plans.id, filters.plan_id), eq(plans.applicationId, applicationId)));
    if (!plan) throw notFound('Plan');
  }
  const now = deps.clock.now();
  const where = and(eq(licenses.applicationId, applicationId), ...filterConditions(filters, now));
  const [counted] = await deps.db.orm.select({ n: count() }).from(licenses).where(where);
  const total = Number(counted?.n ?? 0);
  await writeAudit(deps.db.orm, actor, { applicationId, action: 'license.exported', details: { count: total, filters: { ...filters } } });

  async function* chunks(): AsyncGenerator<ExportChunk> {
    yield { text: csvLine(EXPORT_COLUMNS), rows: 0 };
    let after = 0;
    for (;;) {
      const batch = await deps.db.orm
        .select({ license: licenses, plan: plans.name })
        .from(licenses)
        .innerJoin(plans, eq(plans.id, licenses.planId))
        .where(and(where, gt(licenses.id, after)))
        .orderBy(asc(licenses.id))
        .limit(EXPORT_BATCH);
      if (batch.length === 0) return;
      let text = '';
      for (const { license: l, plan } of batch) {
        text += csvLine([
          l.id,
          l.licenseKey,
          effectiveStatus(l.status, l.expiresAt, now),
          plan,
          l.activatedAt?.toISOString() ?? null,
          l.expiresAt?.toISOString() ?? null,
          l.hwids.join(';'),
          l.ipAddress,
          l.lastUsed?.toISOString() ?? null,
          l.notes,
          l.discordUserId,
          l.createdAt.toISOString(),
        ]);
      }
      yield { text, rows: batch.length };
      if (batch.length < EXPORT_BATCH) return;
      after = batch.at(-1)!.license.id;
    }
  }
  return { total, chunks };
}
