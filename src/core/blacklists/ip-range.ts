import { isIP } from 'node:net';

/** An address range, both ends included: numbers for IPv4, bigints for IPv6. */
type IpRange = { family: 4; start: number; end: number } | { family: 6; start: bigint; end: bigint };

/** A blacklist `ip` value in its one canonical form. */
export interface NormalizedIp {
  /** The address, or `network/prefix` for a range (host bits cleared). */
  value: string;
  /** The same as a Postgres `cidr`. */
  cidr: string;
  range: IpRange;
}

const V4_BITS = 32;
const V6_BITS = 128;
/** The upper 96 bits of an IPv4-mapped IPv6 address (::ffff:0:0/96). */
const MAPPED_PREFIX = 0xffffn;

function v4ToNumber(address: string): number {
  const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}

const numberToV4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

function v6ToBigint(address: string): bigint {
  // A zone index (fe80::1%eth0, which isIP accepts whatever follows the %) names an interface of
  // the machine that wrote it, not part of the address: its text is never parsed as hextets.
  const zone = address.indexOf('%');
  let text = zone === -1 ? address : address.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const dot = text.lastIndexOf('.');
  if (dot !== -1) {
    const colon = text.lastIndexOf(':');
    const n = v4ToNumber(text.slice(colon + 1));
    text = `${text.slice(0, colon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(Number.parseInt(g, 16));
  return value;
}

function bigintToV6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function v4Range(address: number, prefix: number): NormalizedIp {
  const mask = prefix === 0 ? 0 : (0xffffffff << (V4_BITS - prefix)) >>> 0;
  const start = (address & mask) >>> 0;
  const end = (start | (~mask >>> 0)) >>> 0;
  const text = numberToV4(start);
  return { value: prefix === V4_BITS ? text : `${text}/${prefix}`, cidr: `${text}/${prefix}`, range: { family: 4, start, end } };
}

function v6Range(address: bigint, prefix: number): NormalizedIp {
  const hostBits = BigInt(V6_BITS - prefix);
  const start = (address >> hostBits) << hostBits;
  const end = start | ((1n << hostBits) - 1n);
  const text = bigintToV6(start);
  return { value: prefix === V6_BITS ? text : `${text}/${prefix}`, cidr: `${text}/${prefix}`, range: { family: 6, start, end } };
}

/**
 * Parses an address or CIDR range, v4 or v6, into its canonical form (host bits cleared:
 * 10.0.0.5/8 → 10.0.0.0/8); an IPv4-mapped IPv6 address or range (::ffff:10.0.0.1) is taken as
 * the IPv4 one it maps, since that is how a v4 client shows up on a dual-stack socket. Null when
 * the text is neither.
 */
export function normalizeIp(text: string): NormalizedIp | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) return null;
  const bits = family === 4 ? V4_BITS : V6_BITS;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefix = Number(prefixText);
    if (prefix > bits) return null;
  }
  if (family === 4) return v4Range(v4ToNumber(address), prefix);
  const value = v6ToBigint(address);
  if (prefix >= 96 && value >> 32n === MAPPED_PREFIX) return v4Range(Number(value & 0xffffffffn), prefix - 96);
  return v6Range(value, prefix);
}

/** A client address as the range lookup reads it: a v4 number or a v6 bigint; null if unparseable. */
export function clientAddress(ip: string): number | bigint | null {
  const family = isIP(ip);
  if (family === 4) return v4ToNumber(ip);
  if (family === 0) return null;
  const value = v6ToBigint(ip);
  return value >> 32n === MAPPED_PREFIX ? Number(value & 0xffffffffn) : value;
}
