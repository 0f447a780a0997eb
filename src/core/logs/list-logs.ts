import { and, count, desc, eq, gte, inArray, lt, lte, type SQL } from 'drizzle-orm';
import { auditLogs, validationLogs } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';
import { pageIdsQuery } from '../page-ids.js';

export interface LogQuery {
  type: 'audit' | 'validation';
  since?: Date | undefined;
  until?: Date | undefined;
  page: number;
  perPage: number;
  /** Keyset continuation: the page starts after (below) this entry id, whatever `page` says. */
  afterId?: number | undefined;
  /** The total already counted for this walk (logs only grow at the top, where a walk never goes). */
  knownTotal?: number | undefined;
}

/** The audit trail of an application, or its validation records, newest first. */
export interface LogEntry {
  id: number;
  type: 'audit' | 'validation';
  actor: { kind: string; id: string | null; name: string | null };
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  ip: string | null;
  created_at: string;
}

type LogTable = typeof auditLogs | typeof validationLogs;

/**
 * One page of either log. As with license lists, the page's ids come first from the
 * (application_id, id) index — an index-only walk for a far page number, none for a keyset page —
 * and only those entries are read. One id more than the page tells whether another page follows.
 */
export async function listLogs(deps: Deps, actor: SellerActor, applicationId: number, q: LogQuery): Promise<{ total: number; items: LogEntry[]; more: boolean }> {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  if (q.type === 'audit') {
    const { total, rows, more } = await pageOf(deps, auditLogs, applicationId, q);
    return {
      total,
      more,
      items: rows.map((r) => ({
        id: r.id,
        type: 'audit' as const,
        actor: { kind: r.actorKind, id: r.actorId, name: r.actorName },
        action: r.action,
        target: r.target,
        details: r.details ?? {},
        ip: r.ip,
        created_at: r.createdAt.toISOString(),
      })),
    };
  }
  const { total, rows, more } = await pageOf(deps, validationLogs, applicationId, q);
  return {
    total,
    more,
    items: rows.map((r) => ({
      id: r.id,
      type: 'validation' as const,
      actor: { kind: 'client' as const, id: null, name: null },
      action: 'license.validated',
      target: r.licenseId === null ? null : `license:${r.licenseId}`,
      details: { code: r.code, hwid: r.hwid, count: r.count },
      ip: r.ip,
      created_at: r.createdAt.toISOString(),
    })),
  };
}

async function pageOf<T extends LogTable>(deps: Deps, table: T, applicationId: number, q: LogQuery) {
  const where = and(eq(table.applicationId, applicationId), ...range(table.createdAt, q));
  const bound = q.afterId === undefined ? undefined : lt(table.id, q.afterId);
  const pageIds = pageIdsQuery(table.id, and(where, bound), { offset: q.afterId === undefined ? (q.page - 1) * q.perPage : 0, size: q.perPage }).ids;
  const counted = async () => {
    if (q.knownTotal !== undefined) return q.knownTotal;
    const [row] = await deps.db.orm
      .select({ n: count() })
      .from(table as LogTable)
      .where(where);
    return row?.n ?? 0;
  };
  const [total, rows] = await Promise.all([
    counted(),
    deps.db.orm
      .select()
      .from(table as LogTable)
      .where(inArray(table.id, pageIds))
      .orderBy(desc(table.id)),
  ]);
  return { total, rows: rows.slice(0, q.perPage) as T['$inferSelect'][], more: rows.length > q.perPage };
}

function range(column: typeof auditLogs.createdAt | typeof validationLogs.createdAt, q: LogQuery): SQL[] {
  const out: SQL[] = [];
  if (q.since) out.push(gte(column, q.since));
  if (q.until) out.push(lte(column, q.until));
  return out;
}
