import type { variables } from '../../db/schema.js';

export const toVariableView = (v: typeof variables.$inferSelect) => ({
  id: v.id,
  application_id: v.applicationId,
  name: v.name,
  value: v.value,
  public: v.public,
  created_at: v.createdAt.toISOString(),
  updated_at: v.updatedAt.toISOString(),
});
