import type { Db } from '../../db/client.js';
import type { LicenseStatus, licenses, plans } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { roleAllows, type Need, type Role } from '../applications/access.js';
import { forbidden, notFound } from '../errors.js';
import { toDate, toDateOrNull } from '../../db/timestamps.js';

export type LicenseRow = typeof licenses.$inferSelect;
type LicensePlan = Pick<typeof plans.$inferSelect, 'id' | 'name' | 'durationDays'>;

export interface SellerLicense {
  license: LicenseRow;
  plan: LicensePlan;
  role: Role;
  /**
   * The row version this read saw (Postgres `xmin`): a write conditioned on it applies only if
   * nothing changed the license since, which stands in for holding a row lock across round trips.
   */
  version: string;
}

/**
 * The license, its plan and the seller's role in its application, in one statement (one round
 * trip): the application row itself is not read, a membership is all access needs.
 */
const SELECT = `select l.id, l.application_id, l.plan_id, l.license_key, l.status, l.duration_days, l.hwids, l.activated_at,
  l.expires_at, l.ip_address, l.last_used, l.notes, l.discord_user_id, l.ban_reason, l.last_hwid_reset_at, l.job_id,
  l.created_at, l.updated_at, l.xmin::text as version, p.name as plan_name, p.duration_days as plan_duration_days, m.role
from licenses l
join plans p on p.id = l.plan_id
left join application_members m on m.application_id = l.application_id and m.developer_id = $2
where l.id = $1`;

type Timestamp = Date | string;

interface Row {
  id: number;
  application_id: number;
  plan_id: number;
  license_key: string;
  status: LicenseStatus;
  duration_days: number;
  hwids: string[];
  activated_at: Timestamp | null;
  expires_at: Timestamp | null;
  ip_address: string | null;
  last_used: Timestamp | null;
  notes: string | null;
  discord_user_id: string | null;
  ban_reason: string | null;
  last_hwid_reset_at: Timestamp | null;
  job_id: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  version: string;
  plan_name: string;
  plan_duration_days: number;
  role: Role | null;
}

/**
 * A license with its plan, reachable only through an application the seller is part of. As for
 * an application (access.ts), a license elsewhere is "not found", exactly as if it did not exist;
 * a visible one the role may not change is a 403.
 */
export async function requireLicense(db: Db, actor: SellerActor, licenseId: number, need: Need): Promise<SellerLicense> {
  const [row] = await db.query<Row>(SELECT, [licenseId, actor.developerId]);
  // The developer who linked a Discord server may own other applications; from that server they do not exist.
  if (!row || row.role === null || (actor.kind === 'discord' && actor.applicationId !== row.application_id)) throw notFound('License');
  if (!roleAllows(row.role, need)) throw forbidden();
  return {
    license: {
      id: row.id,
      applicationId: row.application_id,
      planId: row.plan_id,
      licenseKey: row.license_key,
      status: row.status,
      durationDays: row.duration_days,
      hwids: row.hwids,
      activatedAt: toDateOrNull(row.activated_at),
      expiresAt: toDateOrNull(row.expires_at),
      ipAddress: row.ip_address,
      lastUsed: toDateOrNull(row.last_used),
      notes: row.notes,
      discordUserId: row.discord_user_id,
      banReason: row.ban_reason,
      lastHwidResetAt: toDateOrNull(row.last_hwid_reset_at),
      jobId: row.job_id,
      createdAt: toDate(row.created_at),
      updatedAt: toDate(row.updated_at),
    },
    plan: { id: row.plan_id, name: row.plan_name, durationDays: row.plan_duration_days },
    role: row.role,
    version: row.version,
  };
}
