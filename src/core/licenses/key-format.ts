import { randomBytes } from 'node:crypto';
import { badRequest } from '../errors.js';

/**
 * License key shapes. `random`: 32 upper-case hex characters (128 bits). `custom`: a mask where
 * X = A–Z/0–9, # = 0–9, @ = A–Z and anything else is literal. Keys are upper-case, so lookups can
 * normalise what a customer typed.
 */
const MIN_MASK_BITS = 60;
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const DIGITS = '0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const HEX = '0123456789ABCDEF';
const PLACEHOLDERS: Record<string, string> = { X: ALPHANUMERIC, '#': DIGITS, '@': LETTERS };

const MASK_PATTERN = /^[A-Z0-9#@\-_.:]{1,128}$/;
const PREFIX_PATTERN = /^[A-Z0-9\-_.:]{0,32}$/;

export type KeySpec = { format: 'random'; prefix: string } | { format: 'custom'; prefix: string; mask: string };

function maskEntropyBits(mask: string): number {
  let bits = 0;
  for (const ch of mask) {
    const alphabet = PLACEHOLDERS[ch];
    if (alphabet) bits += Math.log2(alphabet.length);
  }
  return bits;
}

/** Checks the request's format fields and returns the spec keys are made from. */
export function keySpecFrom(input: { format: 'random' | 'custom'; prefix?: string | null | undefined; custom_format?: string | null | undefined }): KeySpec {
  const prefix = (input.prefix ?? '').toUpperCase();
  if (!PREFIX_PATTERN.test(prefix)) {
    throw badRequest('prefix may hold up to 32 of A–Z, 0–9, -, _, . and :', 'VALIDATION_ERROR', [{ path: 'prefix', message: 'invalid characters or too long' }]);
  }
  if (input.format === 'random') return { format: 'random', prefix };
  const mask = input.custom_format ?? '';
  if (!MASK_PATTERN.test(mask)) {
    throw badRequest('custom_format must be 1–128 of X, #, @, upper-case letters, digits, -, _, . and :', 'VALIDATION_ERROR', [
      { path: 'custom_format', message: 'required with format "custom"; literals must be upper-case' },
    ]);
  }
  const bits = maskEntropyBits(mask);
  if (bits < MIN_MASK_BITS) {
    throw badRequest(`custom_format has ${bits.toFixed(1)} bits of randomness; at least ${MIN_MASK_BITS} are needed`, 'MASK_TOO_WEAK');
  }
  return { format: 'custom', prefix, mask };
}

/** Unbiased random characters: bytes at or above the largest multiple of the alphabet size are skipped. */
function randomChars(alphabet: string, n: number, pool: BytePool): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < n) {
    const b = pool.next();
    if (b < limit) out += alphabet[b % alphabet.length];
  }
  return out;
}

class BytePool {
  private buf = Buffer.alloc(0);
  private at = 0;
  next(): number {
    if (this.at >= this.buf.length) {
      this.buf = randomBytes(4096);
      this.at = 0;
    }
    return this.buf[this.at++]!;
  }
}

export function makeKeys(spec: KeySpec, count: number): string[] {
  const pool = new BytePool();
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    if (spec.format === 'random') {
      keys.push(spec.prefix + randomChars(HEX, 32, pool));
      continue;
    }
    let key = spec.prefix;
    for (const ch of spec.mask) {
      const alphabet = PLACEHOLDERS[ch];
      key += alphabet ? randomChars(alphabet, 1, pool) : ch;
    }
    keys.push(key);
  }
  return keys;
}

export const normalizeKey = (key: string) => key.trim().toUpperCase();
