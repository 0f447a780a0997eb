import { z } from 'zod';

/** A sharing threshold: how many IPs (or HWID mismatches) a license may show in its window; null = not watched. */
const sharingThreshold = z.number().int().min(1).max(10_000).nullable();

/**
 * Key-sharing detection (application setting, and a plan's override as a whole): past
 * `max_ips_per_24h` distinct client IPs in a UTC day, or `max_hwid_mismatches_per_1h` HWID_MISMATCH
 * validations in a clock hour, the license is flagged once per window. Both null = off.
 */
export const sharingSettingsSchema = z
  .object({
    max_ips_per_24h: sharingThreshold.describe('Distinct client IPs a license may use in one UTC day (null = not watched)'),
    max_hwid_mismatches_per_1h: sharingThreshold.describe('HWID_MISMATCH validations a license may get in one clock hour (null = not watched)'),
    action: z.enum(['alert', 'ban']).describe('alert: event and Discord alert; ban: the same, and the license is banned with reason "sharing"'),
  })
  .strict();

export type SharingSettings = z.output<typeof sharingSettingsSchema>;

export const SHARING_OFF: Readonly<SharingSettings> = Object.freeze({ max_ips_per_24h: null, max_hwid_mismatches_per_1h: null, action: 'alert' });

/** Each setting's type and bounds. Defaults live apart, so a patch never carries them. */
const settingFields = {
  hwid_lock: z.boolean(),
  max_hwids: z.number().int().min(1).max(100),
  hwid_reset_cooldown_hours: z
    .number()
    .int()
    .min(0)
    .max(24 * 365),
  require_encryption: z.boolean(),
  paused: z.boolean(),
  /** Client requests per application and client IP per minute; 0 = no limit. */
  rate_limit_per_minute: z.number().int().min(0).max(1_000_000),
  sharing: sharingSettingsSchema,
  /** Floating seats: HWIDs that may hold a seat at once (heartbeat); null = off. */
  max_concurrent: z.number().int().min(1).max(1000).nullable(),
  /** Seconds between a client's heartbeats; a seat lapses after two missed intervals. */
  heartbeat_interval_s: z.number().int().min(10).max(86_400),
  /** Longest offline lease (POST /api/licenses/lease) in hours; 0 = leases off. */
  max_offline_hours: z.number().int().min(0).max(8760),
};

export const applicationSettingsSchema = z.object(settingFields).strict();

export type ApplicationSettings = z.output<typeof applicationSettingsSchema>;

/** The default heartbeat interval, also for reads in SQL of settings stored before it existed. */
export const DEFAULT_HEARTBEAT_INTERVAL_S = 300;

const DEFAULT_APPLICATION_SETTINGS: Readonly<ApplicationSettings> = Object.freeze({
  hwid_lock: true,
  max_hwids: 1,
  hwid_reset_cooldown_hours: 24,
  require_encryption: false,
  paused: false,
  rate_limit_per_minute: 300,
  sharing: SHARING_OFF,
  max_concurrent: null,
  heartbeat_interval_s: DEFAULT_HEARTBEAT_INTERVAL_S,
  max_offline_hours: 72,
});

/**
 * The input shape: any subset, merged over the current (or default) settings. A key left out
 * means "unchanged" — zod 4 keeps an inner `.default()` under `.partial()`, which would silently
 * reset every setting not sent, hence the defaults above are not part of the field schemas.
 */
export const applicationSettingsPatchSchema = applicationSettingsSchema.partial().extend({
  // A nested setting is patched field by field too: `{sharing: {action: "ban"}}` keeps the thresholds.
  sharing: sharingSettingsSchema.partial().optional(),
});
export type ApplicationSettingsPatch = z.input<typeof applicationSettingsPatchSchema>;

export function mergeSettings(current: unknown, patch: ApplicationSettingsPatch | undefined): ApplicationSettings {
  // Stored settings may predate a newly added field: the default fills it.
  const stored = (current ?? {}) as Partial<ApplicationSettings>;
  const sharing = { ...SHARING_OFF, ...stored.sharing, ...stripUndefined(patch?.sharing ?? {}) };
  return applicationSettingsSchema.parse({ ...DEFAULT_APPLICATION_SETTINGS, ...stored, ...stripUndefined(patch ?? {}), sharing });
}

const stripUndefined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
