/**
 * Keycord client SDK for customer apps: validates keys, manages end-user accounts, reads
 * variables and downloads files. It depends on nothing but Node (>= 20): `fetch` and
 * `node:crypto`. Every answer is checked before it is trusted: the Ed25519 signature against the
 * application's public key, the timestamp (at most `maxSkewSeconds` off) and the echoed nonce —
 * so a forged server or a replayed answer is rejected with a KeycordVerificationError.
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { bodyKey, decryptBody, encryptBody } from './body-crypto.js';

export interface KeycordClientOptions {
  /** Where Keycord runs, e.g. https://licenses.example.com */
  baseUrl: string;
  /** The application's public `app_id` (UUID). */
  appId: string;
  /** The application's `public_key` (hex), from the seller API. */
  publicKey: string;
  /** The application's `secret`; needed only to encrypt request bodies. */
  secret?: string;
  /** Send encrypted bodies (X-Body-Encryption: aes-256-gcm); requires `secret`. */
  encrypt?: boolean;
  /** Largest accepted difference between the server's signature time and ours. Default 120 s. */
  maxSkewSeconds?: number;
  /** For tests: the clock, and the fetch implementation. */
  now?: () => number;
  fetch?: typeof fetch;
}

export type ValidationCode = 'VALID' | 'NOT_FOUND' | 'EXPIRED' | 'BANNED' | 'HWID_REQUIRED' | 'HWID_MISMATCH' | 'APP_PAUSED';

export interface ValidationResult {
  success: boolean;
  code: ValidationCode;
  message: string;
  license?: { license_key: string; status: string; plan: { id: number; name: string; duration_days: number }; activated_at: string | null; expires_at: string | null };
}

export interface ExpirationResult {
  success: boolean;
  code?: 'NOT_FOUND';
  status?: string;
  activated_at?: string | null;
  expires_at?: string | null;
  expired?: boolean;
  remaining_seconds?: number | null;
}

export interface UserSession {
  message: string;
  token: string;
  user: { id: number; username: string; hwid: string | null; created_at: string; last_login: string | null };
}

/** Proof for private resources: a license with its HWID, or a user token. */
export type ClientProof = { licenseKey: string; hwid: string } | { token: string };

/** The answer did not come from Keycord as configured (bad signature, stale, replayed, tampered). */
export class KeycordVerificationError extends Error {
  override name = 'KeycordVerificationError';
}

/** Keycord answered with an error (`{success: false, code, message}` and a non-2xx status). */
export class KeycordApiError extends Error {
  override name = 'KeycordApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export class KeycordClient {
  private readonly key: KeyObject;
  private readonly bodyKey: Buffer | null;
  private readonly base: string;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;
  private readonly maxSkew: number;

  constructor(private readonly options: KeycordClientOptions) {
    if (!/^[0-9a-f]{64}$/i.test(options.publicKey)) throw new TypeError('publicKey must be the 64-hex public_key of the application');
    if (options.encrypt && !options.secret) throw new TypeError('encrypt needs the application secret');
    this.key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(options.publicKey, 'hex')]), format: 'der', type: 'spki' });
    this.bodyKey = options.secret ? bodyKey(options.secret, options.appId) : null;
    this.base = options.baseUrl.replace(/\/$/, '');
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch ?? fetch;
    this.maxSkew = options.maxSkewSeconds ?? 120;
  }

  /** Checks a key with this machine's HWID. Decided outcomes (EXPIRED, BANNED, …) are values. */
  validate(input: { licenseKey: string; hwid?: string }): Promise<ValidationResult> {
    return this.post('/api/licenses/validate', { license_key: input.licenseKey, ...(input.hwid ? { hwid: input.hwid } : {}) }, { nonce: true });
  }

  checkExpiration(input: { licenseKey: string }): Promise<ExpirationResult> {
    return this.post('/api/licenses/check-expiration', { license_key: input.licenseKey }, { nonce: true });
  }

  register(input: { licenseKey: string; username: string; password: string; hwid: string }): Promise<UserSession> {
    return this.post('/api/user-auth/create', { license_key: input.licenseKey, username: input.username, password: input.password, hwid: input.hwid });
  }

  login(input: { username: string; password: string; hwid: string }): Promise<UserSession> {
    return this.post('/api/user-auth/login', { username: input.username, password: input.password, hwid: input.hwid });
  }

  async me(token: string): Promise<{ user: UserSession['user']; license: ValidationResult['license'] | null }> {
    const res = await this.request('GET', '/api/user-auth/me', undefined, { authorization: `Bearer ${token}`, ...this.answerEncryption() });
    return this.readJson(res, await this.verified(res));
  }

  async getVariable(name: string, proof?: ClientProof): Promise<{ name: string; value: string }> {
    const query = new URLSearchParams({ app_id: this.options.appId });
    const headers: Record<string, string> = this.answerEncryption();
    if (proof && 'token' in proof) headers.authorization = `Bearer ${proof.token}`;
    else if (proof) query.set('license_key', proof.licenseKey), query.set('hwid', proof.hwid);
    const res = await this.request('GET', `/api/variables/${encodeURIComponent(name)}?${query}`, undefined, headers);
    return this.readJson(res, await this.verified(res));
  }

  /**
   * Downloads a file after the license (or user token) is checked. The bytes are verified
   * against the signed SHA-256 the server sends with them.
   */
  async downloadFile(fileId: number, proof: ClientProof): Promise<{ name: string | null; data: Buffer }> {
    const query = new URLSearchParams({ app_id: this.options.appId });
    const headers: Record<string, string> = this.answerEncryption();
    if ('token' in proof) headers.authorization = `Bearer ${proof.token}`;
    else query.set('license_key', proof.licenseKey), query.set('hwid', proof.hwid);
    const res = await this.request('GET', `/api/files/${fileId}/download?${query}`, undefined, headers);
    if (!res.ok) return this.readJson(res, await this.verified(res));
    const data = Buffer.from(await res.arrayBuffer());
    const sha = res.headers.get('x-content-sha256') ?? '';
    this.checkSignature(res, Buffer.from(sha));
    if (createHash('sha256').update(data).digest('hex') !== sha) throw new KeycordVerificationError('The file does not match its signed SHA-256');
    const disposition = res.headers.get('content-disposition') ?? '';
    // The exact (UTF-8) name is in filename*; filename= is its ASCII fallback.
    const exact = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1];
    const name = exact ? decodeURIComponent(exact) : (/filename="([^"]+)"/.exec(disposition)?.[1] ?? null);
    return { name, data };
  }

  private async post<T>(path: string, body: Record<string, unknown>, opts: { nonce?: boolean } = {}): Promise<T> {
    const nonce = opts.nonce ? randomBytes(16).toString('hex') : undefined;
    const plain = { app_id: this.options.appId, ...body, ...(nonce ? { nonce } : {}) };
    const encrypted = Boolean(this.options.encrypt && this.bodyKey);
    const sent = encrypted ? { app_id: this.options.appId, payload: encryptBody(this.bodyKey!, JSON.stringify(plain)) } : plain;
    const res = await this.request('POST', path, JSON.stringify(sent), { 'content-type': 'application/json', ...(encrypted ? { 'x-body-encryption': 'aes-256-gcm' } : {}) });
    const raw = await this.verified(res);
    const parsed = this.readJson<T & { nonce?: string }>(res, raw);
    // Only a decided answer (2xx) echoes the nonce; an error is thrown above.
    if (nonce !== undefined && parsed.nonce !== nonce) throw new KeycordVerificationError('The answer does not belong to this request (nonce mismatch)');
    return parsed;
  }

  /** GETs carry no body; with `encrypt` the answer still comes back encrypted. */
  private answerEncryption(): Record<string, string> {
    return this.options.encrypt && this.bodyKey ? { 'x-body-encryption': 'aes-256-gcm' } : {};
  }

  private request(method: string, path: string, body: string | undefined, headers: Record<string, string>) {
    return this.fetchImpl(this.base + path, { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'error' });
  }

  /** Reads the body and checks its signature; returns the (decrypted) JSON text. */
  private async verified(res: Response): Promise<string> {
    const raw = Buffer.from(await res.arrayBuffer());
    this.checkSignature(res, raw);
    if (res.headers.get('x-body-encryption') === 'aes-256-gcm') {
      if (!this.bodyKey) throw new KeycordVerificationError('The answer is encrypted but no secret was given');
      const envelope = JSON.parse(raw.toString('utf8')) as { payload?: string };
      const plain = envelope.payload ? decryptBody(this.bodyKey, envelope.payload) : null;
      if (plain === null) throw new KeycordVerificationError('The encrypted answer could not be decrypted');
      return plain;
    }
    return raw.toString('utf8');
  }

  private checkSignature(res: Response, signed: Buffer) {
    const signature = res.headers.get('x-signature-ed25519');
    const timestamp = res.headers.get('x-signature-timestamp');
    if (!signature || !timestamp || !/^\d+$/.test(timestamp) || !/^[0-9a-f]{128}$/i.test(signature)) {
      throw new KeycordVerificationError('The answer is not signed');
    }
    if (!verify(null, Buffer.concat([Buffer.from(timestamp), signed]), this.key, Buffer.from(signature, 'hex'))) {
      throw new KeycordVerificationError('The signature does not match the application public key');
    }
    if (Math.abs(this.now() / 1000 - Number(timestamp)) > this.maxSkew) {
      throw new KeycordVerificationError(`The answer's timestamp is more than ${this.maxSkew} s off`);
    }
  }

  private readJson<T>(res: Response, text: string): T {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new KeycordVerificationError('The answer is not JSON');
    }
    if (!res.ok) {
      const e = body as { code?: string; message?: string };
      throw new KeycordApiError(res.status, e.code ?? 'ERROR', e.message ?? `HTTP ${res.status}`);
    }
    return body as T;
  }
}
