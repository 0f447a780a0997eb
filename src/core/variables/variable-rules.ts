/** What a variable may look like; the HTTP schemas and the core share these. */
export const VARIABLE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const VARIABLE_NAME_RULE = '1–64 of letters, digits, _, . and -';
/** Measured in UTF-8 bytes, as stored, not in characters. */
export const MAX_VARIABLE_VALUE_BYTES = 64 * 1024;
export const MAX_VARIABLES_PER_APP = 1000;

export const valueFits = (value: string) => Buffer.byteLength(value, 'utf8') <= MAX_VARIABLE_VALUE_BYTES;
/**
 * Variables one list page carries at most, whatever `per_page` asks: 500 values of 64 KB made a
 * 33 MB page, and values of control characters (each written as six in JSON) a 197 MB answer that
 * held the process for 4 s (an audit). This many, with `VALUE_CONTROL` refused, stay under 7 MB.
 */
export const MAX_VARIABLES_PER_PAGE = 50;
/** C0 control characters other than tab, line feed and carriage return: JSON writes each as `\u00XX`. */
const VALUE_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;
export const VALUE_TEXT_RULE = 'no control characters other than tab, line feed and carriage return';
export const valueIsText = (value: string) => !VALUE_CONTROL.test(value);
