import type { plans } from '../../db/schema.js';
import { sharingSettingsSchema, type SharingSettings } from '../applications/application-settings.js';

/** A plan's sharing override as stored; anything unreadable counts as none (the application's applies). */
const planSharingOf = (stored: unknown): SharingSettings | null => (stored == null ? null : (sharingSettingsSchema.safeParse(stored).data ?? null));

export const toPlanView = (p: typeof plans.$inferSelect) => ({
  id: p.id,
  application_id: p.applicationId,
  name: p.name,
  duration_days: p.durationDays,
  max_hwids: p.maxHwids,
  hwid_reset_cooldown_hours: p.hwidResetCooldownHours,
  discord_role_id: p.discordRoleId,
  sharing: planSharingOf(p.sharing),
  max_concurrent: p.maxConcurrent,
  heartbeat_interval_s: p.heartbeatIntervalS,
  max_offline_hours: p.maxOfflineHours,
  created_at: p.createdAt.toISOString(),
  updated_at: p.updatedAt.toISOString(),
});
