import type { files } from '../../db/schema.js';

export const toFileView = (f: typeof files.$inferSelect) => ({
  id: f.id,
  application_id: f.applicationId,
  name: f.name,
  size: f.size,
  sha256: f.sha256,
  content_type: f.contentType,
  created_at: f.createdAt.toISOString(),
});
