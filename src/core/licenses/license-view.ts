import { sql, type SQL } from 'drizzle-orm';
import { licenses, type LicenseStatus, type plans } from '../../db/schema.js';

type LicenseRow = typeof licenses.$inferSelect;
type PlanRef = Pick<typeof plans.$inferSelect, 'id' | 'name' | 'durationDays'>;

/**
 * The one rule of expiry: a license whose end has passed is expired — whether or not the expiry
 * sweep has marked it yet, and whether it is active or back to inactive (a HWID reset keeps the
 * date) — unless it is banned. Validate, check-expiration, the views, lists, statistics, Discord
 * and the sweep all apply it (here, or in SQL through `effectiveStatusSql`).
 */
export const EXPIRING_STATUSES = ['active', 'inactive'] as const satisfies readonly LicenseStatus[];

export function effectiveStatus(status: LicenseStatus, expiresAt: Date | null, now: Date): LicenseStatus {
  return (status === 'active' || status === 'inactive') && expiresAt !== null && expiresAt.getTime() <= now.getTime() ? 'expired' : status;
}

/** `effectiveStatus` as a SQL expression over the licenses table, for reads that group or filter. */
export function effectiveStatusSql(now: Date): SQL<LicenseStatus> {
  return sql<LicenseStatus>`case when ${licenses.status} in ('active', 'inactive') and ${licenses.expiresAt} <= ${now.toISOString()}::timestamptz then 'expired' else ${licenses.status} end`;
}

/** The same expression over raw SQL text: `alias` names the licenses row, `nowParam` a timestamptz parameter ($n). */
export function effectiveStatusText(alias: string, nowParam: string): string {
  return `case when ${alias}.status in ('active', 'inactive') and ${alias}.expires_at <= ${nowParam}::timestamptz then 'expired' else ${alias}.status end`;
}

export const toPlanRef = (p: PlanRef) => ({ id: p.id, name: p.name, duration_days: p.durationDays });

export function toLicenseView(l: LicenseRow, plan: PlanRef, now: Date) {
  return {
    id: l.id,
    application_id: l.applicationId,
    license_key: l.licenseKey,
    status: effectiveStatus(l.status, l.expiresAt, now),
    plan: toPlanRef(plan),
    activation_date: l.activatedAt?.toISOString() ?? null,
    expires_at: l.expiresAt?.toISOString() ?? null,
    hwid: l.hwids[0] ?? null,
    hwids: l.hwids,
    ip_address: l.ipAddress,
    last_used: l.lastUsed?.toISOString() ?? null,
    notes: l.notes,
    discord_user_id: l.discordUserId,
    ban_reason: l.banReason,
    created_at: l.createdAt.toISOString(),
    updated_at: l.updatedAt.toISOString(),
  };
}

export type LicenseView = ReturnType<typeof toLicenseView>;

/** The stored statuses of a license, for the doors' schemas (the doors name no table). */
export { LICENSE_STATUSES } from '../../db/schema.js';
