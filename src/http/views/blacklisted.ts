import { z } from 'zod';
import type { BlacklistedAnswer } from '../../core/blacklists/blacklist-refusal.js';
import { clientAnswer } from './client-answer.js';

/** A client route's answer to a blacklisted HWID or address (API.md "Blacklists"): a signed 200. */
export const blacklistedFields = {
  success: z.literal(false),
  code: z.literal('BLACKLISTED'),
  message: z.string(),
};
z.object(blacklistedFields) satisfies z.ZodType<BlacklistedAnswer>;

export const blacklistedAnswer = clientAnswer(blacklistedFields).describe('The HWID or the client address is blacklisted (code BLACKLISTED)');
