import { z } from 'zod';

export const applicationSettingsSchema = z
  .object({
    hwid_lock: z.boolean().default(true),
    max_hwids: z.number().int().min(1).max(100).default(1),
    hwid_reset_cooldown_hours: z.number().int().min(0).max(24 * 365).default(24),
    require_encryption: z.boolean().default(false),
    paused: z.boolean().default(false),
    /** Client requests per application and client IP per minute; 0 = no limit. */
    rate_limit_per_minute: z.number().int().min(0).max(1_000_000).default(300),
  })
  .strict();

export type ApplicationSettings = z.output<typeof applicationSettingsSchema>;

/** The input shape: any subset, merged over the current (or default) settings. */
export const applicationSettingsPatchSchema = applicationSettingsSchema.partial();
export type ApplicationSettingsPatch = z.input<typeof applicationSettingsPatchSchema>;

export function mergeSettings(current: unknown, patch: ApplicationSettingsPatch | undefined): ApplicationSettings {
  // Stored settings may predate a newly added field: parsing fills its default.
  const base = applicationSettingsSchema.parse({ ...(current as object | null) });
  return applicationSettingsSchema.parse({ ...base, ...stripUndefined(patch ?? {}) });
}

const stripUndefined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
