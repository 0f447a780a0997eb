import { z } from 'zod';
import type { toJobView } from '../../core/jobs/job-view.js';

/** A background job (bulk generation or a bulk license action), as `GET /api/jobs/:id` and a 202 `{job}` answer it. */
export const jobView = z.object({
  id: z.number().int(),
  type: z.enum(['generate_licenses', 'bulk_licenses']),
  status: z.enum(['pending', 'queued', 'running', 'completed', 'failed']).describe('`pending`: a bulk action waiting for its confirmation'),
  count: z.number().int(),
  generated: z.number().int(),
  progress: z.number().int().min(0).max(100).describe('Percent of `count` done (keys generated, licenses changed)'),
  error: z.string().optional().describe('Why the job failed'),
  created_at: z.string().describe('ISO 8601'),
  completed_at: z.string().nullable().describe('ISO 8601; null until the job ends'),
}) satisfies z.ZodType<ReturnType<typeof toJobView>>;
