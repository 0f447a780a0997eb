import type { developers } from '../../db/schema.js';

export const toDeveloperView = (d: typeof developers.$inferSelect) => ({
  id: d.id,
  email: d.email,
  username: d.username,
  created_at: d.createdAt.toISOString(),
});
