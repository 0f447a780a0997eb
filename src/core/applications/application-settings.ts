import { z } from 'zod';

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
};

export const applicationSettingsSchema = z.object(settingFields).strict();

export type ApplicationSettings = z.output<typeof applicationSettingsSchema>;

const DEFAULT_APPLICATION_SETTINGS: Readonly<ApplicationSettings> = Object.freeze({
  hwid_lock: true,
  max_hwids: 1,
  hwid_reset_cooldown_hours: 24,
  require_encryption: false,
  paused: false,
  rate_limit_per_minute: 300,
});

/**
 * The input shape: any subset, merged over the current (or default) settings. A key left out
 * means "unchanged" — zod 4 keeps an inner `.default()` under `.partial()`, which would silently
 * reset every setting not sent, hence the defaults above are not part of the field schemas.
 */
export const applicationSettingsPatchSchema = applicationSettingsSchema.partial();
export type ApplicationSettingsPatch = z.input<typeof applicationSettingsPatchSchema>;

export function mergeSettings(current: unknown, patch: ApplicationSettingsPatch | undefined): ApplicationSettings {
  // Stored settings may predate a newly added field: the default fills it.
  return applicationSettingsSchema.parse({ ...DEFAULT_APPLICATION_SETTINGS, ...(current as object | null), ...stripUndefined(patch ?? {}) });
}

const stripUndefined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
