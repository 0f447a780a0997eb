import { and, count, desc, eq, gte, lte, type SQL } from 'drizzle-orm';
import { auditLogs, validationLogs } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireApplication } from '../applications/access.js';
import type { Deps } from '../deps.js';

export interface LogQuery {
  type: 'audit' | 'validation';
  since?: Date | undefined;
  until?: Date | undefined;
  page: number;
  perPage: number;
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

export async function listLogs(deps: Deps, actor: SellerActor, applicationId: number, q: LogQuery): Promise<{ total: number; items: LogEntry[] }> {
  await requireApplication(deps.db.orm, actor, applicationId, 'read');
  const offset = (q.page - 1) * q.perPage;
  if (q.type === 'audit') {
    const where = and(eq(auditLogs.applicationId, applicationId), ...range(auditLogs.createdAt, q));
    const [total] = await deps.db.orm.select({ n: count() }).from(auditLogs).where(where);
    const rows = await deps.db.orm.select().from(auditLogs).where(where).orderBy(desc(auditLogs.id)).limit(q.perPage).offset(offset);
    return {
      total: total?.n ?? 0,
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
  const where = and(eq(validationLogs.applicationId, applicationId), ...range(validationLogs.createdAt, q));
  const [total] = await deps.db.orm.select({ n: count() }).from(validationLogs).where(where);
  const rows = await deps.db.orm.select().from(validationLogs).where(where).orderBy(desc(validationLogs.id)).limit(q.perPage).offset(offset);
  return {
    total: total?.n ?? 0,
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

function range(column: typeof auditLogs.createdAt | typeof validationLogs.createdAt, q: LogQuery): SQL[] {
  const out: SQL[] = [];
  if (q.since) out.push(gte(column, q.since));
  if (q.until) out.push(lte(column, q.until));
  return out;
}
