import { z } from 'zod';

/** Integer ids in paths; anything else is a 400, and an id nobody has is a 404. */
export const id = z.coerce.number().int().min(1).max(2_147_483_647);
export const idParams = z.object({ id });

export const messageResponse = z.object({ message: z.string() });
export const errorResponse = z.object({
  success: z.literal(false),
  code: z.string(),
  message: z.string(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
