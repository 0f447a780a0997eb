import { z } from 'zod';
import type { toJobView } from '../../core/jobs/job-view.js';

/** A background job (bulk generation), as `GET /api/jobs/:id` and a 202 `{job}` answer it. */
export const jobView = z.object({
  id: z.number().int(),
  type: z.enum(['generate_licenses']),
  status: z.enum(['queued', 'running', 'completed', 'failed']),
  count: z.number().int(),
  generated: z.number().int(),
  progress: z.number().int().min(0).max(100).describe('Percent of `count` generated'),
  error: z.string().optional().describe('Why the job failed'),
  created_at: z.string().describe('ISO 8601'),
  completed_at: z.string().nullable().describe('ISO 8601; null until the job ends'),
}) satisfies z.ZodType<ReturnType<typeof toJobView>>;
