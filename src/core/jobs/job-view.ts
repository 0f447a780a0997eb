import type { jobs } from '../../db/schema.js';

export const toJobView = (j: typeof jobs.$inferSelect) => ({
  id: j.id,
  type: j.type,
  status: j.status,
  count: j.count,
  generated: j.generated,
  progress: j.count === 0 ? 100 : Math.floor((j.generated / j.count) * 100),
  ...(j.error ? { error: j.error } : {}),
  created_at: j.createdAt.toISOString(),
  completed_at: j.completedAt?.toISOString() ?? null,
});
