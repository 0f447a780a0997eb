import { z } from 'zod';
import type { applicationLimits } from '../../core/applications/application-limits.js';
import { applicationSettingsSchema } from '../../core/applications/application-settings.js';
import type { toApplicationView } from '../../core/applications/application-view.js';

/** An application as its members see it, with the caller's role in it. */
export const applicationView = z.object({
  id: z.number().int(),
  app_id: z.uuid().describe('The public id client apps send'),
  name: z.string(),
  description: z.string().nullable(),
  public_key: z.string().describe('Ed25519 public key (hex) that verifies signed client answers'),
  settings: applicationSettingsSchema,
  // The core types the role as text; always present on these routes.
  role: z.string().optional().describe("The caller's role in the application: owner, admin, manager or viewer"),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toApplicationView>>;

/** The same with the client secret, shown only on creation and rotation. */
export const applicationWithSecretView = applicationView.extend({
  secret: z.string().describe('The client secret (shown only here): the key of encrypted bodies'),
}) satisfies z.ZodType<ReturnType<typeof toApplicationView>>;

/** A developer's application limits (`GET /api/applications/limits`, and `limits` of `GET /api/auth/me`). */
export const applicationLimitsView = z.object({
  max_applications: z.number().int(),
  applications_used: z.number().int(),
  max_licenses_per_application: z.number().int(),
  max_count_per_generate: z.number().int().describe('The largest `count` of one generate request (202 past the synchronous limit)'),
  max_count_per_sync_generate: z.number().int().describe('The largest `count` answered at once (200); above it, a job (202)'),
}) satisfies z.ZodType<Awaited<ReturnType<typeof applicationLimits>>>;
