/** What a variable may look like; the HTTP schemas and the core share these. */
export const VARIABLE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const VARIABLE_NAME_RULE = '1–64 of letters, digits, _, . and -';
/** Measured in UTF-8 bytes, as stored, not in characters. */
export const MAX_VARIABLE_VALUE_BYTES = 64 * 1024;
export const MAX_VARIABLES_PER_APP = 1000;

export const valueFits = (value: string) => Buffer.byteLength(value, 'utf8') <= MAX_VARIABLE_VALUE_BYTES;
