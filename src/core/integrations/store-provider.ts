import { createHmac } from 'node:crypto';
import { safeEqual } from '../crypto.js';
import { badRequest } from '../errors.js';

export const STORE_PROVIDERS = ['sellix', 'sellauth', 'stripe'] as const;
export type StoreProviderName = (typeof STORE_PROVIDERS)[number];

/** The store's call as it arrived: the raw bytes (signatures cover them) and the headers. */
export interface StoreRequest {
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** What a verified call says, in the terms every provider shares. */
export type StoreNotice =
  | { kind: 'paid'; orderId: string; lineId: string; productId: string; quantity: number; discordUserId: string | null }
  | { kind: 'refunded'; orderId: string; reason: 'refund' | 'chargeback' }
  | { kind: 'ignored'; event: string };

/** The HTTP answer the store expects: its body is what a dynamic-delivery store hands the buyer. */
export interface StoreAnswer {
  contentType: 'text/plain' | 'application/json';
  body: string | { received: true };
}

/**
 * One store: verify the request with the integration's secret, read the order, answer in the
 * store's format. Each provider is one file (sellix.ts, sellauth.ts, stripe.ts) written from the
 * store's documentation; what the documentation did not say is said in that file's comments.
 */
export interface StoreProvider {
  name: StoreProviderName;
  verify(request: StoreRequest, secret: string): boolean;
  /** Reads a verified body; throws a 400 AppError on a body that is not the store's shape. */
  read(request: StoreRequest): StoreNotice;
  /** The answer to a paid order, with its keys (the same keys on every repeat). */
  answerPaid(keys: string[]): StoreAnswer;
}

/** What every provider answers to a call that issues nothing (a refund, an event it ignores). */
export const RECEIVED: StoreAnswer = { contentType: 'application/json', body: { received: true } };

export const header = (r: StoreRequest, name: string) => {
  const v = r.headers[name.toLowerCase()];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
};

/** A hex HMAC of the raw body compared in constant time (Sellix: sha512, SellAuth: sha256). */
export function hmacHexMatches(algorithm: 'sha256' | 'sha512', secret: string, rawBody: Buffer, given: string | undefined): boolean {
  if (!given || given.length > 256) return false;
  return safeEqual(createHmac(algorithm, secret).update(rawBody).digest('hex'), given.trim().toLowerCase());
}

export function parseJson(rawBody: Buffer): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(rawBody.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    /* refused below */
  }
  throw badRequest('The body is not a JSON object');
}

export const asRecord = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** An id the store gave: a string or a number, bounded; anything else is a malformed body. */
export function idText(v: unknown, what: string): string {
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : typeof v === 'string' ? v.trim() : '';
  if (!s || s.length > 200) throw badRequest(`The body has no valid ${what}`, 'VALIDATION_ERROR', [{ path: what, message: 'missing or invalid' }]);
  return s;
}

/** A quantity from the store: a whole number from 1 to 10,000 (else a malformed body). */
export function quantityOf(v: unknown): number {
  const n = typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10_000)
    throw badRequest('The order quantity is not a whole number from 1 to 10000', 'VALIDATION_ERROR', [{ path: 'quantity', message: 'invalid' }]);
  return n;
}

/** A Discord user id given by the buyer (a snowflake), or null: a wrong value never blocks the order. */
export function discordIdOf(...candidates: unknown[]): string | null {
  for (const c of candidates) {
    const s = typeof c === 'string' ? c.trim() : typeof c === 'number' ? String(c) : '';
    if (/^\d{17,20}$/.test(s)) return s;
  }
  return null;
}

/** `discord_id` or `discord` in a custom-fields object ({ name: value }). */
export function discordFromFields(fields: unknown): string | null {
  const f = asRecord(fields);
  return discordIdOf(f.discord_id, f.discord, f['Discord ID'], f.Discord);
}
