import { z } from 'zod';
import type { toUserView } from '../../core/users/user-view.js';

/** An end user of an application (user-auth API), as a license's users and the user-auth answers show it. */
export const appUserView = z.object({
  id: z.number().int(),
  username: z.string(),
  hwid: z.string().nullable(),
  license_id: z.number().int().nullable().describe('null once the license is deleted'),
  created_at: z.string().describe('ISO 8601'),
  last_login: z.string().nullable().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toUserView>>;
