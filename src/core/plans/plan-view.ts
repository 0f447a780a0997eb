import type { plans } from '../../db/schema.js';

export const toPlanView = (p: typeof plans.$inferSelect) => ({
  id: p.id,
  application_id: p.applicationId,
  name: p.name,
  duration_days: p.durationDays,
  max_hwids: p.maxHwids,
  hwid_reset_cooldown_hours: p.hwidResetCooldownHours,
  discord_role_id: p.discordRoleId,
  created_at: p.createdAt.toISOString(),
  updated_at: p.updatedAt.toISOString(),
});
