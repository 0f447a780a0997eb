/**
 * "Last used" is kept to the minute, for API tokens and licenses alike: a write a minute is
 * enough for a list that shows it, and a client polling every few seconds (or thousands of them)
 * then costs a write a minute each, not one per request or per flush.
 */
const LAST_USED_PRECISION_MS = 60_000;

/** Whether a use at `now` should be written: never written, or the stored one is a minute old. */
export const lastUseIsDue = (stored: Date | null | undefined, now: Date): boolean => !stored || now.getTime() - stored.getTime() >= LAST_USED_PRECISION_MS;
