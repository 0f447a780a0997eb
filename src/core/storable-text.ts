/**
 * Postgres cannot store a NUL character in text, nor an unpaired UTF-16 surrogate in jsonb; such
 * input fails deep inside a query (an error that also fails every request batched with it). It is
 * bad input, so each door refuses it up front: the HTTP routes (http/storable-text.ts) and the
 * Discord bot (bot.ts).
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
export const UNSTORABLE_MESSAGE = 'may not contain NUL characters or unpaired surrogates';
const MAX_DEPTH = 64;

/** The path (from `path`) of the first unstorable string or key in `value`, or null; built only when one is found. */
export function findUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : null;
  // Bytes (a raw body kept for its signature) are numbers, not text: walking a Buffer would visit
  // every byte as a field of its own, a fifth of a Discord interaction's CPU, to find nothing.
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || ArrayBuffer.isView(value)) return null;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (UNSTORABLE.test(key)) return `${path}.${key}`;
    const found = findUnstorable((value as Record<string, unknown>)[key], key, depth + 1);
    if (found) return `${path}.${found}`;
  }
  return null;
}
