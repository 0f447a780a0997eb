import type { Db } from '../../db/client.js';
import type { Actor } from '../actor.js';
import { auditRow, type AuditEntry } from '../audit.js';
import type { EventType } from '../events/emit-event.js';
import type { LicenseRow } from './require-license.js';

/**
 * A seller's change to one license is written by one statement: the UPDATE (or DELETE), its audit
 * entry and its outbox event, so they commit together without a transaction's extra round trips
 * (BEGIN, COMMIT). The write applies only to the row version the caller read (`xmin`); if anything
 * changed the license since, nothing is written and the caller decides again on a fresh read.
 */

/** What an audit entry and an outbox event add to a write, in parameter order. */
const SIDE_EFFECTS = (changed: string, first: number) => `
audit as (
  insert into audit_logs (application_id, actor_kind, actor_id, actor_name, action, target, details, ip)
  select application_id, $${first}, $${first + 1}, $${first + 2}, $${first + 3}, $${first + 4}, $${first + 5}::text::jsonb, $${first + 6}
  from ${changed}
),
event as (
  insert into outbox (application_id, kind, type, payload)
  select application_id, 'event', $${first + 7}::text, $${first + 8}::text::jsonb
  from ${changed} where $${first + 7}::text is not null
)`;

const UPDATE = `with changed as (
  update licenses set status = $3, ban_reason = $4, notes = $5, duration_days = $6, expires_at = $7::timestamptz,
    hwids = $8::text[], last_hwid_reset_at = $9::timestamptz, updated_at = $10::timestamptz
  where id = $1 and xmin::text = $2
  returning application_id
),${SIDE_EFFECTS('changed', 11)}
select count(*)::int as written from changed`;

const DELETE = `with changed as (
  delete from licenses where id = $1 and xmin::text = $2
  returning application_id
),${SIDE_EFFECTS('changed', 3)}
select count(*)::int as written from changed`;

export interface LicenseWrite {
  actor: Actor;
  audit: AuditEntry;
  /** The outbox event and its payload, if the change emits one. */
  event?: { type: EventType; data: Record<string, unknown> };
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

function sideEffectParams({ actor, audit, event }: LicenseWrite): unknown[] {
  const row = auditRow(actor, audit);
  return [
    row.actorKind,
    row.actorId,
    row.actorName,
    row.action,
    row.target,
    row.details === null ? null : JSON.stringify(row.details),
    row.ip,
    event?.type ?? null,
    event ? JSON.stringify(event.data) : null,
  ];
}

/** Stores `next` (the license as the change leaves it) if the row is still at `version`; false if it moved on. */
export async function writeLicenseChange(db: Db, version: string, next: LicenseRow, write: LicenseWrite): Promise<boolean> {
  const [row] = await db.query<{ written: number }>(UPDATE, [
    next.id,
    version,
    next.status,
    next.banReason,
    next.notes,
    next.durationDays,
    iso(next.expiresAt),
    next.hwids,
    iso(next.lastHwidResetAt),
    iso(next.updatedAt),
    ...sideEffectParams(write),
  ]);
  return row!.written === 1;
}

/** Deletes the license if the row is still at `version`; false if it moved on. */
export async function writeLicenseDeletion(db: Db, licenseId: number, version: string, write: LicenseWrite): Promise<boolean> {
  const [row] = await db.query<{ written: number }>(DELETE, [licenseId, version, ...sideEffectParams(write)]);
  return row!.written === 1;
}
