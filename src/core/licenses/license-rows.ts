import type { licenses } from '../../db/schema.js';
import { toDate, toDateOrNull } from '../../db/timestamps.js';

type LicenseRow = typeof licenses.$inferSelect;

/** A license row as raw SQL hands it over: snake_case, timestamps as Dates or text (the embedded database). */
interface RawLicenseRow {
  id: number;
  application_id: number;
  plan_id: number;
  license_key: string;
  status: LicenseRow['status'];
  duration_days: number;
  hwids: string[];
  activated_at: Date | string | null;
  expires_at: Date | string | null;
  ip_address: string | null;
  last_used: Date | string | null;
  notes: string | null;
  discord_user_id: string | null;
  ban_reason: string | null;
  last_hwid_reset_at: Date | string | null;
  job_id: number | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = [
  'id',
  'application_id',
  'plan_id',
  'license_key',
  'status',
  'duration_days',
  'hwids',
  'activated_at',
  'expires_at',
  'ip_address',
  'last_used',
  'notes',
  'discord_user_id',
  'ban_reason',
  'last_hwid_reset_at',
  'job_id',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof RawLicenseRow)[];

/**
 * Every column of the licenses row `alias`, for raw reads, each named `<prefix><column>`. Raw,
 * because drizzle builds a select of a whole table anew on every call: for a page of licenses
 * with its plans that was ~110 µs of CPU per request, more than the statement's own time.
 */
export const licenseColumnsSql = (alias: string, prefix = '') => COLUMNS.map((c) => `${alias}.${c} as ${prefix}${c}`).join(', ');

/** The row `licenseColumnsSql(alias, prefix)` read, as drizzle's `licenses.$inferSelect`. */
export function licenseRowFrom(raw: Record<string, unknown>, prefix = ''): LicenseRow {
  const at = <C extends (typeof COLUMNS)[number]>(c: C) => raw[prefix + c] as RawLicenseRow[C];
  const jobId = at('job_id');
  return {
    id: Number(at('id')),
    applicationId: Number(at('application_id')),
    planId: Number(at('plan_id')),
    licenseKey: at('license_key'),
    status: at('status'),
    durationDays: Number(at('duration_days')),
    hwids: at('hwids'),
    activatedAt: toDateOrNull(at('activated_at')),
    expiresAt: toDateOrNull(at('expires_at')),
    ipAddress: at('ip_address'),
    lastUsed: toDateOrNull(at('last_used')),
    notes: at('notes'),
    discordUserId: at('discord_user_id'),
    banReason: at('ban_reason'),
    lastHwidResetAt: toDateOrNull(at('last_hwid_reset_at')),
    jobId: jobId === null ? null : Number(jobId),
    createdAt: toDate(at('created_at')),
    updatedAt: toDate(at('updated_at')),
  };
}
