/**
 * A timestamp as a raw read hands it over: postgres.js answers Dates, the embedded database
 * (PGlite) may answer text. Every raw read turns it into a Date here, so the two agree.
 */
export type RawTimestamp = Date | string;

export const toDate = (v: RawTimestamp): Date => (v instanceof Date ? v : new Date(v));

export const toDateOrNull = (v: RawTimestamp | null): Date | null => (v === null ? null : toDate(v));
