import type { LicenseStatus, licenses, plans } from '../../db/schema.js';

type LicenseRow = typeof licenses.$inferSelect;
type PlanRef = Pick<typeof plans.$inferSelect, 'id' | 'name' | 'durationDays'>;

/**
 * An active license whose time ran out is expired, whether or not the expiry sweep has marked it
 * yet; every door shows the same status.
 */
export function effectiveStatus(status: LicenseStatus, expiresAt: Date | null, now: Date): LicenseStatus {
  return status === 'active' && expiresAt !== null && expiresAt.getTime() <= now.getTime() ? 'expired' : status;
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
