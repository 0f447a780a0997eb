/**
 * Malformed inputs for the fuzz test, made from the OpenAPI document: a valid-looking value for
 * every schema, then the ways a hostile or broken client gets each part of a request wrong.
 * Everything is drawn from a seeded PRNG, so a run sends the same requests every time and a
 * failure can be replayed.
 */

export type Random = () => number;

/** mulberry32: tiny, fast and good enough to pick test inputs. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** `n` distinct items in a seeded order (all of them when there are fewer). */
export function sample<T>(random: Random, items: readonly T[], n: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

export interface JsonSchema {
  type?: string | string[];
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  minLength?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
}

/** A plausible value for a schema; `known` supplies real values (ids, keys) by property name. */
export function plausible(schema: JsonSchema | undefined, known: Record<string, unknown>, name = ''): unknown {
  if (name in known) return known[name];
  if (!schema) return 'x';
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return plausible(union.find((s) => s.type !== 'null') ?? union[0], known, name);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, s]) => [key, plausible(s, known, key)]));
    case 'array':
      return [plausible(schema.items, known, name)];
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    default:
      if (schema.format === 'email') return 'fuzz@example.test';
      if (schema.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
      return 'x'.repeat(Math.max(schema.minLength ?? 1, 1));
  }
}

const deep = (depth: number): unknown => (depth === 0 ? 'bottom' : { a: deep(depth - 1) });

/** Values of the wrong type, size or content for any one field. */
export const ODD_VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 31,
  1e308,
  '',
  ' ',
  '1',
  '0x10',
  '1e3',
  'x'.repeat(100_000),
  'nul\u0000byte',
  'lone \ud800 surrogate',
  '\udc00',
  '𝕏 emoji 🎉 and RTL \u202e',
  '<script>alert(1)</script>',
  "' or 1=1 --",
  '../../etc/passwd',
  [],
  [1, 'a', null],
  {},
  { nested: { deeper: [] } },
  deep(200),
];

/** Whole bodies that are not what any route expects, as raw JSON text. */
export const ODD_RAW_BODIES: readonly string[] = [
  'null',
  '[]',
  '"a string"',
  '42',
  'true',
  '{}',
  '{"__proto__": {"admin": true}}',
  '{"constructor": {"prototype": {"admin": true}}}',
  '['.repeat(5000) + ']'.repeat(5000),
  '{"a":'.repeat(2000) + '1' + '}'.repeat(2000),
  '{"a": 1',
  '{"a": 1}}',
  '{a: 1}',
  '\u0000',
  '{"\u0000": 1}',
  '"\\ud800"',
  '{"x": "\\u0000"}',
  '',
];

/** Values on the edge of what a field's own schema allows: the inputs most likely to slip past it. */
export function edgesOf(schema: JsonSchema | undefined): unknown[] {
  if (!schema) return [];
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return union.flatMap(edgesOf);
  const out: unknown[] = [];
  if (schema.format === 'date-time') out.push('0000-01-01T00:00:00Z', '9999-12-31T23:59:59-14:00', '1969-12-31T23:59:59Z', '2026-02-30T00:00:00Z');
  if (schema.format === 'uuid') out.push('00000000-0000-0000-0000-000000000000', 'G0000000-0000-4000-8000-000000000000');
  if (schema.pattern) out.push('0x10', '1e3', '01', ' 1', '99999999999');
  if (schema.type === 'integer' || schema.type === 'number') out.push(2 ** 31, 2 ** 53 + 2, -(2 ** 31), 0.5, '1', true);
  if (schema.enum) out.push('', 'NOT-A-MEMBER', String(schema.enum[0]).toUpperCase());
  return out;
}

/** Replaces one field of a body object with an odd value, keeping the rest plausible. */
export function withField(body: unknown, key: string, value: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { [key]: value };
  return { ...(body as Record<string, unknown>), [key]: value };
}

/** Path segments that are not ids, or are ids written in ways that must not count as one. */
export const ODD_IDS: readonly string[] = ['0', '-1', '0x10', '1e3', '1.0', '%2B1', '%201', '01', '99999999999', '2147483648', 'abc', '%00', '%ZZ', '%F0%9F%8E%89', 'null', 'x'.repeat(300)];

/** Query strings a route does not expect, or expects with impossible values. */
export const ODD_QUERIES: readonly string[] = [
  'page=%00',
  'page=0x2',
  'per_page=-1',
  'per_page=1e2',
  'page=1&page=2',
  'a[b]=1',
  '__proto__[admin]=1',
  'constructor[prototype][admin]=1',
  '%ZZ=1',
  '%00=1',
  'x=%ED%A0%80',
  'Authorization=Bearer%00x',
  'Authorization=Basic%20abc',
  'since=not-a-date',
  'until=0000-01-01T00:00:00Z',
  'app_id=%00',
  `q=${'y'.repeat(8000)}`,
];

/** Header sets that are wrong in one way each; `auth` marks those that keep the caller's token. */
export const ODD_HEADERS: readonly { headers: Record<string, string>; auth: boolean }[] = [
  { headers: { 'content-type': 'text/plain' }, auth: true },
  { headers: { 'content-type': 'application/json; charset=latin1' }, auth: true },
  { headers: { 'content-type': 'multipart/form-data' }, auth: true },
  { headers: { 'content-type': 'multipart/form-data; boundary=x' }, auth: true },
  { headers: { 'content-type': 'application/x-www-form-urlencoded' }, auth: true },
  { headers: { 'content-type': '%00/%00' }, auth: true },
  { headers: { 'x-body-encryption': 'aes-256-gcm' }, auth: true },
  { headers: { 'x-body-encryption': 'rot13' }, auth: true },
  { headers: { 'idempotency-key': 'k'.repeat(10_000) }, auth: true },
  { headers: { 'idempotency-key': '' }, auth: true },
  { headers: { 'idempotency-key': 'caf\u00e9' }, auth: true },
  { headers: { authorization: 'Bearer' }, auth: false },
  { headers: { authorization: 'Basic Zm9vOmJhcg==' }, auth: false },
  { headers: { authorization: `Bearer ${'a'.repeat(8000)}` }, auth: false },
  { headers: { authorization: 'Bearer kc_live_0000000000000000' }, auth: false },
  { headers: { authorization: 'Bearer kc_sess_' }, auth: false },
  { headers: { authorization: 'Bearer a b' }, auth: false },
  { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.' }, auth: false },
];
