import { and, asc, count, eq, gt, inArray, lte, ne, type SQL } from 'drizzle-orm';
import { licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { SellerActor } from '../actor.js';
import { changeLicenses, recordLicenseWrites } from './change-many.js';
import { licenseDeletionWrite } from './delete-license.js';
import { banChange } from './license-actions.js';
import { filterConditions, type LicenseFilters } from './list-licenses.js';

const BULK_ACTIONS = ['ban', 'delete'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** A destructive action on every license a filter matches (the filters of the license list). */
export interface BulkRequest {
  action: BulkAction;
  filters: LicenseFilters;
  reason: string | null;
}

/** Which licenses a request touches: the ids are bounded so that keys made after it was confirmed are left alone. */
export interface BulkRange {
  afterId: number;
  upToId: number;
}

/**
 * The licenses a request matches inside one application. A ban leaves keys already banned out, so
 * every key is banned (and audited, and announced) once, however often a batch is run again.
 */
function targets(applicationId: number, request: BulkRequest, now: Date, range: BulkRange): SQL {
  return and(
    eq(licenses.applicationId, applicationId),
    ...filterConditions(request.filters, now),
    request.action === 'ban' ? ne(licenses.status, 'banned') : undefined,
    gt(licenses.id, range.afterId),
    lte(licenses.id, range.upToId),
  )!;
}

/** How many licenses the request would change now (the (application_id, status) and (application_id, id) indexes serve it). */
export async function countBulkTargets(db: Executor, applicationId: number, request: BulkRequest, now: Date, range: BulkRange): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(licenses)
    .where(targets(applicationId, request, now, range));
  return row?.n ?? 0;
}

/**
 * Applies the request to the next `limit` matching licenses (id order, after `range.afterId`),
 * inside the caller's transaction: the rows are locked, then changed exactly as the one-license
 * action changes them — the same rule (`banChange`), the same audit entry and event per license
 * (`licenseChangeWrite`, `licenseDeletionWrite`) — written a statement per kind rather than per
 * license. Returns how many were changed and the last id, where the next batch starts.
 */
export async function applyBulkBatch(tx: Executor, actor: SellerActor, applicationId: number, request: BulkRequest, opts: BulkRange & { limit: number; now: Date }) {
  const { now, limit } = opts;
  const rows = await tx
    .select()
    .from(licenses)
    .where(targets(applicationId, request, now, opts))
    .orderBy(asc(licenses.id))
    .limit(limit)
    .for('update');
  if (rows.length === 0) return { changed: 0, lastId: opts.afterId };
  const ids = rows.map((r) => r.id);
  if (request.action === 'delete') {
    await tx.delete(licenses).where(inArray(licenses.id, ids));
    await recordLicenseWrites(
      tx,
      actor,
      applicationId,
      rows.map((r) => licenseDeletionWrite(actor, r)),
    );
  } else {
    await changeLicenses(tx, actor, applicationId, rows, banChange(request.reason), now);
  }
  return { changed: rows.length, lastId: ids.at(-1)! };
}
