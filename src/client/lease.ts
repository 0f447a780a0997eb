/**
 * Offline leases, checked with nothing but `node:crypto`: a lease is
 * `base64url(payload JSON) "." base64url(Ed25519 signature over the first part's ASCII)`, signed by
 * the application's key (the key that signs every client answer), so the application's
 * `public_key` is all a machine needs to trust it offline.
 *
 * Clock trust. Offline, the local clock is the only clock. A lease is refused before its
 * `issued_at` (beyond a small skew) and from its `lease_expires_at` on, so setting the clock back
 * to before the lease was issued does not help; a clock set back *within* the lease can still keep
 * it alive until its end (local time) at most. That cannot be prevented offline: it is bounded by
 * the lease length, which the seller bounds with `max_offline_hours`. The `OfflineLease` helper
 * also never lets its clock go backwards while it runs.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { ValidationCode } from './index.js';

/** SEATS_FULL: the license counts floating seats and every one is held by another machine. */
export type LeaseCode = ValidationCode | 'LEASES_DISABLED' | 'SEATS_FULL';

/** What a lease says, as Keycord signed it (ISO 8601 times). */
export interface LeasePayload {
  v: 1;
  app_id: string;
  license_key: string;
  hwid: string;
  plan: { id: number; name: string };
  /** null for a lifetime license. */
  license_expires_at: string | null;
  lease_expires_at: string;
  issued_at: string;
}

/**
 * `expired`: the local time is outside the lease's window (at or past `lease_expires_at`, or before
 * its `issued_at` beyond the allowed skew: a clock set back); renew online.
 */
export type LeaseVerification = { status: 'valid'; payload: LeasePayload } | { status: 'expired' | 'wrong_hwid' | 'wrong_license' | 'bad_signature' | 'malformed' };

export interface VerifyLeaseOptions {
  /** This machine's HWID: a lease is good on the machine it was issued to only. */
  hwid: string;
  /**
   * The license key the app runs with: a lease of another license of the application (another
   * plan, a key since banned) is then `wrong_license`. Compared as Keycord compares keys (trimmed,
   * upper-case). Without it, any lease of the application for this machine passes.
   */
  licenseKey?: string;
  /** The time to check at (ms since the epoch, or a Date). Default: now. */
  now?: number | Date;
  /** How far `issued_at` may be ahead of the local clock. Default 300 s. */
  maxSkewSeconds?: number;
}

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const MAX_TOKEN_LENGTH = 16_384;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The Ed25519 public key of an application's 64-hex `public_key`. */
function applicationPublicKey(publicKeyHex: string): KeyObject {
  if (!/^[0-9a-f]{64}$/i.test(publicKeyHex)) throw new TypeError('publicKey must be the 64-hex public_key of the application');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
}

/** Checks a lease offline: its signature by the application, this machine, and the local time. */
export function verifyLease(token: string, publicKey: string | KeyObject, options: VerifyLeaseOptions): LeaseVerification {
  const key = typeof publicKey === 'string' ? applicationPublicKey(publicKey) : publicKey;
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return { status: 'malformed' };
  const parts = token.trim().split('.');
  if (parts.length !== 2 || !BASE64URL.test(parts[0]!) || !BASE64URL.test(parts[1]!)) return { status: 'malformed' };
  const [body, sig] = parts as [string, string];
  const signature = Buffer.from(sig, 'base64url');
  if (signature.length !== 64) return { status: 'malformed' };
  if (!verify(null, Buffer.from(body, 'ascii'), key, signature)) return { status: 'bad_signature' };

  const payload = parsePayload(Buffer.from(body, 'base64url').toString('utf8'));
  if (!payload) return { status: 'malformed' };
  if (payload.hwid !== options.hwid.trim()) return { status: 'wrong_hwid' };
  if (options.licenseKey !== undefined && payload.license_key.trim().toUpperCase() !== options.licenseKey.trim().toUpperCase()) return { status: 'wrong_license' };
  const now = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  const skewMs = (options.maxSkewSeconds ?? 300) * 1000;
  if (now < Date.parse(payload.issued_at) - skewMs || now >= Date.parse(payload.lease_expires_at)) return { status: 'expired' };
  return { status: 'valid', payload };
}

const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function parsePayload(text: string): LeasePayload | null {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof p !== 'object' || p === null) return null;
  const o = p as Record<string, unknown>;
  const plan = o.plan as Record<string, unknown> | null | undefined;
  const ok =
    o.v === 1 &&
    typeof o.app_id === 'string' &&
    typeof o.license_key === 'string' &&
    typeof o.hwid === 'string' &&
    typeof plan === 'object' &&
    plan !== null &&
    typeof plan.id === 'number' &&
    typeof plan.name === 'string' &&
    (o.license_expires_at === null || isTime(o.license_expires_at)) &&
    isTime(o.lease_expires_at) &&
    isTime(o.issued_at);
  return ok ? (o as unknown as LeasePayload) : null;
}

/** The lease route's answer (POST /api/licenses/lease). */
export interface LeaseResult {
  success: boolean;
  code: LeaseCode;
  message: string;
  lease?: string;
  lease_expires_at?: string;
}

/** Where an OfflineLease gets a new lease: `KeycordClient#requestLease`. */
export interface LeaseSource {
  requestLease(input: { licenseKey: string; hwid: string; ttlHours?: number }): Promise<LeaseResult>;
}

/** Keeps the lease across restarts (a file, the keychain…): without one, a restart offline has no lease. */
export interface LeaseStore {
  load(): string | null | undefined | Promise<string | null | undefined>;
  save(token: string | null): void | Promise<void>;
}

export interface OfflineLeaseOptions {
  licenseKey: string;
  hwid: string;
  /** The application's `public_key` (hex). */
  publicKey: string;
  /** Hours to ask for; the server caps them by `max_offline_hours`. Default: the cap. */
  ttlHours?: number;
  store?: LeaseStore;
  /** The clock (ms since the epoch). Default Date.now. */
  now?: () => number;
  maxSkewSeconds?: number;
}

/**
 * The outcome of `OfflineLease#check`. `online`: whether Keycord answered this time. `refused`:
 * Keycord answered and gave no lease (BANNED, EXPIRED, LEASES_DISABLED…); the held lease is dropped.
 * `none`: no lease is held and Keycord could not be reached.
 */
export type LeaseCheck = ((LeaseVerification | { status: 'none' }) & { online: boolean }) | { status: 'refused'; code: LeaseCode; message: string; online: true };

/**
 * Holds this machine's current lease. `check()` asks Keycord for a new lease when there is none or
 * half of the current one has run, and otherwise — or when Keycord cannot be reached — verifies the
 * lease it holds, offline. Only a decided answer of Keycord (a banned key…) ends a lease early.
 */
export class OfflineLease {
  private current: string | null = null;
  /** The store's load, made once: every check() waits for it, so none runs before the saved lease is in. */
  private loading: Promise<void> | null = null;
  /** The latest time this helper has seen: its clock never goes back while it runs. */
  private latest = 0;
  private readonly key: KeyObject;

  constructor(
    private readonly source: LeaseSource,
    private readonly options: OfflineLeaseOptions,
  ) {
    this.key = applicationPublicKey(options.publicKey);
  }

  /** The lease held now (for display or to save elsewhere), or null. */
  get token(): string | null {
    return this.current;
  }

  async check(): Promise<LeaseCheck> {
    await this.load();
    const now = this.now();
    const held = this.verify(now);
    if (held.status === 'valid' && now < renewalTime(held.payload)) return { ...held, online: false };
    let answer: LeaseResult;
    try {
      answer = await this.source.requestLease({ licenseKey: this.options.licenseKey, hwid: this.options.hwid, ...(this.options.ttlHours ? { ttlHours: this.options.ttlHours } : {}) });
    } catch {
      // Unreachable, timed out (KeycordTimeoutError) or an answer that failed verification: the
      // held lease decides, offline.
      return { ...held, online: false };
    }
    if (!answer.success || !answer.lease) {
      await this.keep(null);
      return { status: 'refused', code: answer.code, message: answer.message, online: true };
    }
    await this.keep(answer.lease);
    return { ...this.verify(now), online: true };
  }

  private verify(now: number): LeaseVerification | { status: 'none' } {
    if (!this.current) return { status: 'none' };
    // The held lease (perhaps loaded from a file) must be this key's: a lease saved for another
    // license of the application does not carry over to this one.
    return verifyLease(this.current, this.key, {
      hwid: this.options.hwid,
      licenseKey: this.options.licenseKey,
      now,
      ...(this.options.maxSkewSeconds !== undefined ? { maxSkewSeconds: this.options.maxSkewSeconds } : {}),
    });
  }

  private now(): number {
    this.latest = Math.max(this.latest, (this.options.now ?? Date.now)());
    return this.latest;
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      this.current = (await this.options.store?.load()) ?? null;
    })().catch((err: unknown) => {
      // The checks waiting now fail with the store's error; a later one tries the store again.
      this.loading = null;
      throw err;
    });
    return this.loading;
  }

  private async keep(token: string | null) {
    this.current = token;
    await this.options.store?.save(token);
  }
}

/** Half-way through a lease: from then on, `check()` renews it when Keycord can be reached. */
export function renewalTime(payload: LeasePayload): number {
  const issued = Date.parse(payload.issued_at);
  return issued + (Date.parse(payload.lease_expires_at) - issued) / 2;
}
