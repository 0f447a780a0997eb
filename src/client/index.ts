/**
 * Keycord client SDK for customer apps: validates keys, manages end-user accounts, reads
 * variables and downloads files. It depends on nothing but Node (>= 20): `fetch` and
 * `node:crypto`. Every call sends a fresh nonce, and every answer is checked before it is
 * trusted: the Ed25519 signature against the application's public key, the timestamp (at most
 * `maxSkewSeconds` off), the echoed nonce and the echoed request (route, and the key, user,
 * variable or file it was about, and the proof it carried) — so a forged server, a replayed answer
 * or the answer to another request is rejected with a KeycordVerificationError. Every call has a
 * deadline (`timeoutMs`) and reads no more than an answer can be: the signature headers are checked
 * before the body is read, a JSON answer is at most MAX_ANSWER_BYTES and a file no more than the
 * size its signature names.
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import {
  answersRequest,
  DOWNLOAD_HEADERS,
  DOWNLOAD_ROUTE,
  downloadRequestSignedText,
  PASSWORD_BINDING,
  passwordBinding,
  proofSubject,
  requestIdentity,
  type RequestIdentity,
  type RequestSubject,
} from './answer-binding.js';
import { bodyKey, decryptBody, encryptBody } from './body-crypto.js';
import { OfflineLease, type LeaseResult, type OfflineLeaseOptions } from './lease.js';

export {
  OfflineLease,
  renewalTime,
  verifyLease,
  type LeaseCheck,
  type LeaseCode,
  type LeasePayload,
  type LeaseResult,
  type LeaseSource,
  type LeaseStore,
  type LeaseVerification,
  type OfflineLeaseOptions,
  type VerifyLeaseOptions,
} from './lease.js';

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
  /**
   * Longest a call may take, from sending the request to the last byte of the answer; past it the
   * call fails with a KeycordTimeoutError (and an OfflineLease falls back to the lease it holds).
   * Default 15 000 ms. A download's headers must come within it too.
   */
  timeoutMs?: number;
  /** Longest a download's bytes may take once its (signed) headers came. Default 600 000 ms (10 min). */
  downloadTimeoutMs?: number;
  /** For tests: the clock, and the fetch implementation. */
  now?: () => number;
  fetch?: typeof fetch;
}

export type ValidationCode = 'VALID' | 'NOT_FOUND' | 'EXPIRED' | 'BANNED' | 'HWID_REQUIRED' | 'HWID_MISMATCH' | 'APP_PAUSED' | 'BLACKLISTED';

export interface ValidationResult {
  success: boolean;
  code: ValidationCode;
  message: string;
  license?: { license_key: string; status: string; plan: { id: number; name: string; duration_days: number }; activated_at: string | null; expires_at: string | null };
}

export interface ExpirationResult {
  success: boolean;
  code?: 'NOT_FOUND' | 'BLACKLISTED';
  message?: string;
  status?: string;
  activated_at?: string | null;
  expires_at?: string | null;
  expired?: boolean;
  remaining_seconds?: number | null;
}

/** A floating-seat heartbeat: VALID while this machine holds a seat, SEATS_FULL, or any validate code. */
export interface HeartbeatResult {
  success: boolean;
  code: ValidationCode | 'SEATS_FULL';
  message: string;
  seats_used: number | null;
  /** null: the application has no floating seats (the answer is validate's). */
  seats_max: number | null;
  /** Heartbeat again within this many seconds; the seat lapses after twice as long. */
  next_heartbeat_s: number;
}

export interface ReleaseResult {
  success: boolean;
  code: 'RELEASED' | 'NOT_HELD' | 'NOT_FOUND';
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

/** Keycord did not answer (all of it) within `timeoutMs`: as unreachable, not as a refusal. */
export class KeycordTimeoutError extends Error {
  override name = 'KeycordTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Keycord did not answer within ${timeoutMs} ms`);
  }
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
  private readonly timeoutMs: number;
  private readonly downloadTimeoutMs: number;

  constructor(private readonly options: KeycordClientOptions) {
    if (!/^[0-9a-f]{64}$/i.test(options.publicKey)) throw new TypeError('publicKey must be the 64-hex public_key of the application');
    if (options.encrypt && !options.secret) throw new TypeError('encrypt needs the application secret');
    this.key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(options.publicKey, 'hex')]), format: 'der', type: 'spki' });
    // The server knows application ids in lower case and derives the body key from that spelling.
    this.bodyKey = options.secret ? bodyKey(options.secret, options.appId.toLowerCase()) : null;
    this.base = options.baseUrl.replace(/\/$/, '');
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch ?? fetch;
    this.maxSkew = options.maxSkewSeconds ?? 120;
    this.timeoutMs = timeoutOption('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
    this.downloadTimeoutMs = timeoutOption('downloadTimeoutMs', options.downloadTimeoutMs, DEFAULT_DOWNLOAD_TIMEOUT_MS);
  }

  /** Checks a key with this machine's HWID. Decided outcomes (EXPIRED, BANNED, …) are values. */
  validate(input: { licenseKey: string; hwid?: string }): Promise<ValidationResult> {
    const license_key = input.licenseKey.trim();
    const hwid = input.hwid?.trim() || undefined;
    return this.post('/api/licenses/validate', { license_key, ...(hwid ? { hwid } : {}) }, { license_key, hwid });
  }

  checkExpiration(input: { licenseKey: string }): Promise<ExpirationResult> {
    const license_key = input.licenseKey.trim();
    return this.post('/api/licenses/check-expiration', { license_key }, { license_key });
  }

  /** Takes or keeps a floating seat for this machine; call again within `next_heartbeat_s`. */
  heartbeat(input: { licenseKey: string; hwid: string }): Promise<HeartbeatResult> {
    const license_key = input.licenseKey.trim();
    const hwid = input.hwid.trim();
    return this.post('/api/licenses/heartbeat', { license_key, hwid }, { license_key, hwid });
  }

  /** Gives this machine's seat back at once (on exit), so another machine can take it. */
  release(input: { licenseKey: string; hwid: string }): Promise<ReleaseResult> {
    const license_key = input.licenseKey.trim();
    const hwid = input.hwid.trim();
    return this.post('/api/licenses/release', { license_key, hwid }, { license_key, hwid });
  }

  /**
   * Asks for an offline lease for this machine (validate's decision first). Check it offline with
   * `verifyLease`; or let `lease()` hold and renew it.
   */
  requestLease(input: { licenseKey: string; hwid: string; ttlHours?: number }): Promise<LeaseResult> {
    const license_key = input.licenseKey.trim();
    const hwid = input.hwid.trim();
    return this.post('/api/licenses/lease', { license_key, hwid, ...(input.ttlHours !== undefined ? { ttl_hours: input.ttlHours } : {}) }, { license_key, hwid });
  }

  async register(input: { licenseKey: string; username: string; password: string; hwid: string }): Promise<UserSession> {
    const license_key = input.licenseKey.trim();
    const hwid = input.hwid.trim();
    const session = await this.post<UserSession & { [PASSWORD_BINDING]?: unknown }>(
      '/api/user-auth/create',
      { license_key, username: input.username, password: input.password, hwid },
      { username: input.username, license_key, hwid },
      'throw',
    );
    // The session must be for the password sent: one a man in the middle swapped is someone else's.
    const { [PASSWORD_BINDING]: digest, ...answer } = session;
    if (digest !== passwordBinding(input.username, input.password)) throw new KeycordVerificationError('The answer is not for this request (the account was made with another password)');
    return answer;
  }

  login(input: { username: string; password: string; hwid: string }): Promise<UserSession> {
    const hwid = input.hwid.trim();
    return this.post('/api/user-auth/login', { username: input.username, password: input.password, hwid }, { username: input.username, hwid }, 'throw');
  }

  async me(token: string): Promise<{ user: UserSession['user']; license: ValidationResult['license'] | null }> {
    const nonce = freshNonce();
    // With app_id, as every call: an encrypted request names the application whose key opens it.
    const { query, headers } = this.getParams(nonce, { token });
    return this.exchange('GET', `/api/user-auth/me?${query}`, undefined, headers, nonce, requestIdentity('GET /api/user-auth/me', { user_token: token.trim() }), 'throw');
  }

  async getVariable(name: string, proof?: ClientProof): Promise<{ name: string; value: string }> {
    const nonce = freshNonce();
    const { query, headers, proven } = this.getParams(nonce, proof);
    // A grant names the proof it was given for; a refusal made before the route read it (a rate
    // limit, a schema error) names the variable only, and can only ever refuse.
    const route = 'GET /api/variables/:name';
    const expected = { request: requestIdentity(route, { name, ...proven }), refusal: requestIdentity(route, { name }) };
    return this.exchange('GET', `/api/variables/${encodeURIComponent(name)}?${query}`, undefined, headers, nonce, expected, 'throw');
  }

  /**
   * Downloads a file after the license (or user token) is checked. Before a byte of it is read,
   * the headers' signature must cover this file id, this call's nonce, the proof it sent, the
   * file's SHA-256 and its size; the bytes are then read up to that size and must hash to it.
   */
  async downloadFile(fileId: number, proof: ClientProof): Promise<{ name: string | null; data: Buffer }> {
    const nonce = freshNonce();
    const { query, headers, proven } = this.getParams(nonce, proof);
    const expected = { request: requestIdentity(DOWNLOAD_ROUTE, { file_id: fileId, ...proven }), refusal: requestIdentity(DOWNLOAD_ROUTE, { file_id: fileId }) };
    const deadline = new Deadline(this.timeoutMs);
    try {
      const res = await this.request('GET', `/api/files/${fileId}/download?${query}`, undefined, headers, deadline);
      if (!res.ok) return await this.boundJson(res, nonce, expected, 'decided', deadline);
      const signed = this.signedDownload(res, fileId, nonce, expected.request);
      const length = res.headers.get('content-length');
      if (length !== null && Number(length) > signed.size) throw new KeycordVerificationError('The file is larger than its signed size');
      // The signed headers came in time; the bytes get the download's own deadline.
      deadline.restart(this.downloadTimeoutMs);
      const hash = createHash('sha256');
      const data = await readCapped(res, signed.size, deadline, 'The file is larger than its signed size', (chunk) => hash.update(chunk));
      if (hash.digest('hex') !== signed.sha256) throw new KeycordVerificationError('The file does not match its signed SHA-256');
      if (data.length !== signed.size) throw new KeycordVerificationError('The file is shorter than its signed size');
      return { name: fileNameOf(res.headers.get('content-disposition') ?? ''), data };
    } finally {
      deadline.end();
    }
  }

  /**
   * A download's signed headers, checked before its body is read: the signature (over the file id,
   * nonce, SHA-256, size and the request the answer names) and that the request named is this one.
   */
  private signedDownload(res: Response, fileId: number, nonce: string, expected: RequestIdentity): { sha256: string; size: number } {
    const sha256 = res.headers.get('x-content-sha256') ?? '';
    const size = res.headers.get(DOWNLOAD_HEADERS.size) ?? '';
    const answered = res.headers.get(DOWNLOAD_HEADERS.request);
    if (!/^[0-9a-f]{64}$/.test(sha256) || !/^\d{1,15}$/.test(size) || answered === null) throw new KeycordVerificationError('The download is not signed (no signed SHA-256, size and request)');
    this.checkSignature(res, Buffer.from(downloadRequestSignedText(fileId, nonce, sha256, Number(size), answered)), DOWNLOAD_HEADERS.signature);
    let named: unknown;
    try {
      named = JSON.parse(answered);
    } catch {
      named = null;
    }
    if (!answersRequest(named, expected)) throw new KeycordVerificationError(`The answer is not for this request (${expected.route})`);
    return { sha256, size: Number(size) };
  }

  private async post<T>(path: string, body: Record<string, unknown>, subject: RequestSubject, refusals: Refusals = 'decided'): Promise<T> {
    const nonce = freshNonce();
    const plain = { app_id: this.options.appId, ...body, nonce };
    const encrypted = Boolean(this.options.encrypt && this.bodyKey);
    const sent = encrypted ? { app_id: this.options.appId, payload: encryptBody(this.bodyKey!, JSON.stringify(plain)) } : plain;
    const headers = { 'content-type': 'application/json', ...(encrypted ? { 'x-body-encryption': 'aes-256-gcm' } : {}) };
    return this.exchange('POST', path, JSON.stringify(sent), headers, nonce, requestIdentity(`POST ${path}`, subject), refusals);
  }

  /** One JSON call within `timeoutMs`: the request, then the verified answer to it. */
  private async exchange<T>(method: string, path: string, body: string | undefined, headers: Record<string, string>, nonce: string, expected: Expected, refusals: Refusals): Promise<T> {
    const deadline = new Deadline(this.timeoutMs);
    try {
      const res = await this.request(method, path, body, headers, deadline);
      return await this.boundJson<T>(res, nonce, expected, refusals, deadline);
    } finally {
      deadline.end();
    }
  }

  /**
   * A GET's query and headers. A private resource's proof goes as a bearer header (user token) or
   * with the parameters (license and HWID); with `encrypt` the parameters travel sealed in
   * `?payload=` (the same envelope as a POST body), so no key or HWID is ever in a URL.
   */
  private getParams(nonce: string, proof: ClientProof | undefined): { query: URLSearchParams; headers: Record<string, string>; proven: RequestSubject } {
    const headers = this.answerEncryption();
    const params: Record<string, string> = { nonce };
    let proven: RequestSubject = {};
    if (proof && 'token' in proof) {
      // Trimmed: fetch strips a header value's spaces and the server reads the token trimmed, so
      // the answer names the trimmed one (a token read from a file often ends in a newline).
      const token = proof.token.trim();
      headers.authorization = `Bearer ${token}`;
      proven = proofSubject({ user_token: token });
    } else if (proof) {
      // Trimmed as validate() sends them, and as the server reads the key: the answer names them so.
      const license_key = proof.licenseKey.trim();
      const hwid = proof.hwid.trim();
      Object.assign(params, { license_key, hwid });
      proven = proofSubject({ license_key, hwid });
    }
    if (!this.options.encrypt || !this.bodyKey) return { query: new URLSearchParams({ app_id: this.options.appId, ...params }), headers, proven };
    return { query: new URLSearchParams({ app_id: this.options.appId, payload: encryptBody(this.bodyKey, JSON.stringify(params)) }), headers, proven };
  }

  /**
   * The verified JSON answer, if it answers this request. A decided answer must echo both the
   * nonce and the request; an error that echoes them must echo ours. A signed error without an
   * echo (one refused before the server could read the request, e.g. an undecryptable body) is
   * still thrown as a KeycordApiError: it can only ever refuse, never grant. So is an unsigned 429
   * or 503 (UNSIGNED_REFUSALS); any other unsigned answer is a KeycordVerificationError.
   * `expected.refusal`: what a refusal may name instead (one made before the route read the proof).
   */
  private async boundJson<T>(res: Response, nonce: string, expected: Expected, refusals: Refusals, deadline: Deadline): Promise<T> {
    const unsigned = UNSIGNED_REFUSALS[res.status];
    if (unsigned && !res.headers.has('x-signature-ed25519')) throw new KeycordApiError(res.status, unsigned.code, unsigned.message);
    const request = 'route' in expected ? expected : expected.request;
    const refusal = 'route' in expected ? undefined : expected.refusal;
    const parsed = parseJson(await this.verified(res, deadline));
    const body = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { success?: unknown; nonce?: unknown; request?: unknown; code?: string; message?: string };
    const echoes = res.ok || 'nonce' in body || 'request' in body;
    if (echoes && body.nonce !== nonce) throw new KeycordVerificationError('The answer does not belong to this request (nonce mismatch)');
    const answers = answersRequest(body.request, request) || (refusal !== undefined && (!res.ok || body.success === false) && answersRequest(body.request, refusal));
    if (echoes && !answers) throw new KeycordVerificationError(`The answer is not for this request (${request.route})`);
    // The status is not signed, the body is: a call whose answers are never `success: false`
    // (a session, a profile, a variable) takes one that is for the refusal it is, whatever the
    // status says — a blacklisted device's 200, or a signed refusal whose status was rewritten.
    if (!res.ok || (refusals === 'throw' && body.success === false) || !answersRequest(body.request, request))
      throw new KeycordApiError(res.status, body.code ?? 'ERROR', body.message ?? `HTTP ${res.status}`);
    const { nonce: _nonce, request: _request, ...answer } = body;
    return answer as T;
  }

  /** GETs carry no body; with `encrypt` the answer still comes back encrypted. */
  private answerEncryption(): Record<string, string> {
    return this.options.encrypt && this.bodyKey ? { 'x-body-encryption': 'aes-256-gcm' } : {};
  }

  private request(method: string, path: string, body: string | undefined, headers: Record<string, string>, deadline: Deadline): Promise<Response> {
    // Raced too: a fetch given in the options may not heed the signal.
    return deadline.race(this.fetchImpl(this.base + path, { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'error', signal: deadline.signal }));
  }

  /**
   * Checks the signature headers are there, then reads the body (at most MAX_ANSWER_BYTES) and
   * checks its signature; returns the (decrypted) JSON text. An unsigned or oversized answer is
   * refused before its body is read.
   */
  private async verified(res: Response, deadline: Deadline): Promise<string> {
    signatureHeaders(res, 'x-signature-ed25519');
    const length = res.headers.get('content-length');
    if (length !== null && Number(length) > MAX_ANSWER_BYTES) throw new KeycordVerificationError(`The answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    const raw = await readCapped(res, MAX_ANSWER_BYTES, deadline, `The answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    this.checkSignature(res, raw);
    if (res.headers.get('x-body-encryption') === 'aes-256-gcm') {
      if (!this.bodyKey) throw new KeycordVerificationError('The answer is encrypted but no secret was given');
      const envelope = parseJson(raw.toString('utf8')) as { payload?: string } | null;
      const plain = typeof envelope?.payload === 'string' ? decryptBody(this.bodyKey, envelope.payload) : null;
      if (plain === null) throw new KeycordVerificationError('The encrypted answer could not be decrypted');
      return plain;
    }
    return raw.toString('utf8');
  }

  private checkSignature(res: Response, signed: Buffer, header = 'x-signature-ed25519') {
    const { signature, timestamp } = signatureHeaders(res, header);
    if (!verify(null, Buffer.concat([Buffer.from(timestamp), signed]), this.key, Buffer.from(signature, 'hex'))) {
      throw new KeycordVerificationError('The signature does not match the application public key');
    }
    if (Math.abs(this.now() / 1000 - Number(timestamp)) > this.maxSkew) {
      throw new KeycordVerificationError(`The answer's timestamp is more than ${this.maxSkew} s off`);
    }
  }
}

/**
 * Online-then-offline use: an OfflineLease for this machine that asks Keycord for leases (renewing
 * when half of one has run) and verifies the one it holds offline when Keycord cannot be reached.
 */
export function lease(options: KeycordClientOptions & Omit<OfflineLeaseOptions, 'publicKey' | 'now'>): OfflineLease {
  return new OfflineLease(new KeycordClient(options), { ...options, ...(options.now ? { now: options.now } : {}) });
}

/**
 * Refusals Keycord makes before it knows which application a request is for, hence unsigned: a
 * rate limit for an `app_id` it does not know (429; servers before this release also sent the
 * log-in limit of the user routes unsigned) and the database being down (503). Such an answer can only ever refuse, like a connection that fails,
 * so it is thrown as the refusal it is rather than as a forged answer; its code and words are the
 * status's own, never the unsigned body's.
 */
const UNSIGNED_REFUSALS: Partial<Record<number, { code: string; message: string }>> = {
  429: { code: 'RATE_LIMITED', message: 'Too many requests; try again later' },
  503: { code: 'UNAVAILABLE', message: 'Keycord is unavailable; try again shortly' },
};

/**
 * What a call makes of a signed answer `{success: false, …}`: `decided` — a value it returns (a
 * validation's EXPIRED, a heartbeat's SEATS_FULL); `throw` — a KeycordApiError, for the calls
 * whose answer is a session, a profile or a variable and never says `success`.
 */
type Refusals = 'decided' | 'throw';

/**
 * The file's name from Content-Disposition: the exact (UTF-8) one in filename*, else the ASCII
 * fallback in filename=. Unlike the bytes, the name is not signed, so it is a hint to show, never a
 * path: whatever comes, only its last path component is kept (no `/`, `\\`, `..` or control
 * characters), and a malformed encoding gives null rather than an exception.
 */
function fileNameOf(disposition: string): string | null {
  const exact = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1];
  let name: string | null;
  try {
    name = exact ? decodeURIComponent(exact) : (/filename="([^"]+)"/.exec(disposition)?.[1] ?? null);
  } catch {
    return null;
  }
  const base = name
    ?.split(/[/\\]/)
    .pop()
    ?.replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  return base && base !== '.' && base !== '..' ? base : null;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_DOWNLOAD_TIMEOUT_MS = 600_000;
/** setTimeout's largest delay; a longer one would fire at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;
/** A JSON client answer is a few hundred bytes; a variable at most 64 KB. Nothing near this is ever legitimate. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

function timeoutOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) throw new TypeError(`${name} must be a number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`);
  return value;
}

/** What an answer must name: the request, and for a private resource what a refusal may name instead. */
type Expected = RequestIdentity | { request: RequestIdentity; refusal: RequestIdentity };

/**
 * A call's deadline: aborts the fetch (and with it the body) when it passes, and makes whatever is
 * raced against it fail with a KeycordTimeoutError. `end()` also drops a body left unread.
 */
class Deadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private fail: (err: KeycordTimeoutError) => void = () => {};
  private readonly expired: Promise<never>;

  constructor(ms: number) {
    this.expired = new Promise<never>((_, reject) => (this.fail = reject));
    this.expired.catch(() => {});
    this.restart(ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** From now on, `ms` more. */
  restart(ms: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const err = new KeycordTimeoutError(ms);
      this.fail(err);
      this.controller.abort(err);
    }, ms);
  }

  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.expired]);
  }

  end() {
    clearTimeout(this.timer);
    if (!this.controller.signal.aborted) this.controller.abort();
  }
}

/** The signature headers, refused unless well formed (before any of the body is read). */
function signatureHeaders(res: Response, header: string): { signature: string; timestamp: string } {
  const signature = res.headers.get(header);
  const timestamp = res.headers.get('x-signature-timestamp');
  if (!signature || !timestamp || !/^\d{1,15}$/.test(timestamp) || !/^[0-9a-f]{128}$/i.test(signature)) {
    throw new KeycordVerificationError('The answer is not signed');
  }
  return { signature, timestamp };
}

/** The body, read until its end within the deadline, refused as soon as it passes `cap` bytes. */
async function readCapped(res: Response, cap: number, deadline: Deadline, tooLarge: string, onChunk?: (chunk: Uint8Array) => void): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await deadline.race(reader.read());
      if (done) break;
      total += value.byteLength;
      if (total > cap) throw new KeycordVerificationError(tooLarge);
      onChunk?.(value);
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  }
  return Buffer.concat(chunks, total);
}

/** 128 random bits, hex: unpredictable, so no answer can have been recorded for it. */
const freshNonce = () => randomBytes(16).toString('hex');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KeycordVerificationError('The answer is not JSON');
  }
}
