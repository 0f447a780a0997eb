import { auditLogs } from '../db/schema.js';
import { insertRuns } from '../db/insert-rows.js';
import type { Executor } from '../db/client.js';
import { actorIdentity, type Actor } from './actor.js';

export interface AuditEntry {
  applicationId?: number | null;
  action: string;
  target?: string | null;
  details?: Record<string, unknown>;
}

/** The columns of an audit entry: who acted (from the actor alone), what, on what. */
export function auditRow(actor: Actor, entry: AuditEntry) {
  const who = actorIdentity(actor);
  return {
    applicationId: entry.applicationId ?? null,
    actorKind: who.kind,
    actorId: who.id,
    actorName: who.name,
    action: entry.action,
    target: entry.target ?? null,
    details: entry.details ?? null,
    ip: who.ip,
  };
}

/** Written inside the caller's transaction, so a change and its audit entry commit together. */
export async function writeAudit(tx: Executor, actor: Actor, entry: AuditEntry): Promise<void> {
  await tx.insert(auditLogs).values(auditRow(actor, entry));
}

/** Many entries by one actor in one statement (a bulk action's, one per license). */
export async function writeAudits(tx: Executor, actor: Actor, entries: AuditEntry[]): Promise<void> {
  for (const run of insertRuns(entries)) await tx.insert(auditLogs).values(run.map((e) => auditRow(actor, e)));
}
