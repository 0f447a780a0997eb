import type { appUsers } from '../../db/schema.js';

export const toUserView = (u: typeof appUsers.$inferSelect) => ({
  id: u.id,
  username: u.username,
  hwid: u.hwid,
  license_id: u.licenseId,
  created_at: u.createdAt.toISOString(),
  last_login: u.lastLogin?.toISOString() ?? null,
});
