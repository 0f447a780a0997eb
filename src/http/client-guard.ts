import type { FastifyInstance, FastifyReply, FastifyRequest, onErrorHookHandler, RouteOptions } from 'fastify';
import { BODY_ENCRYPTION } from '../core/body-encryption.js';
import { isAppId, type ClientApplication } from '../core/applications/application-cache.js';
import type { Deps } from '../core/deps.js';
import { AppError } from '../core/errors.js';
import { openEncryptedRequest } from './body-encryption.js';
import { bindClientAnswer, nonce } from './client-app.js';
import { limitKeyOf } from './client-address.js';
import { routePolicy } from './route-policy.js';
import { unstorableTextError } from './storable-text.js';
import { FixedWindows } from './fixed-windows.js';
import { tooManyRequests } from './too-many-requests.js';

/** Requests per client IP per minute to applications that are unknown (or ids that are malformed). */
const DEFAULT_CLIENT_LIMIT = 300;
const WINDOW_MS = 60_000;
/** At ~200 bytes a window, the client limits hold at most ~20 MB whatever clients send. */
const MAX_CLIENT_WINDOWS = 100_000;

/**
 * Fixed one-minute windows per application and IP, in this process: validation must never wait
 * on Redis (API.md), so client limits are per API instance. Keyed by the application's internal
 * id, never by what the client wrote: every unknown `app_id` shares one window per IP.
 */
class ClientRateCounter {
  private readonly windows: FixedWindows;

  constructor(maxWindows = MAX_CLIENT_WINDOWS) {
    this.windows = new FixedWindows(maxWindows);
  }

  hit(client: ClientApplication | null, ip: string, now = Date.now()): { count: number; resetMs: number } {
    return this.windows.hit(`${client ? client.id : '?'}|${ip}`, WINDOW_MS, now);
  }

  get size(): number {
    return this.windows.size;
  }
}

/**
 * The `app_id` of a client request (body, else query) when it is well formed. Anything else is
 * never looked up or remembered here: the route's schema refuses it with a 400 after the guard.
 */
function appIdOf(request: FastifyRequest): string | null {
  const body = request.body as { app_id?: unknown } | undefined;
  const query = request.query as { app_id?: unknown } | undefined;
  const raw = typeof body?.app_id === 'string' ? body.app_id : query?.app_id;
  return typeof raw === 'string' && isAppId(raw) ? raw : null;
}

/**
 * The `nonce` of a refused client request, when the request is readable and its nonce is one the
 * route's schema accepts (a malformed one is never reflected). Read on the refusal path only, from
 * the body (a GET's query) Fastify parsed and the guard opened: nothing is parsed or decrypted again.
 */
function refusedRequestNonce(request: FastifyRequest): string | undefined {
  // An envelope that was never opened: its answer stays plain, signed and unbound. DECRYPTION_FAILED:
  // the payload did not decrypt, so the nonce sealed in it cannot be read (and one written beside it
  // in clear is not the request's own). RATE_LIMITED is counted before anything is decrypted, and
  // decrypting to bind a refusal would buy back the work the limit refuses. A bad X-Body-Encryption
  // leaves it unknown whether the body is an envelope at all.
  if (request.headers['x-body-encryption'] !== undefined && request.bodyKey === null) return undefined;
  const input: unknown = request.method === 'GET' ? request.query : request.body;
  if (typeof input !== 'object' || input === null) return undefined;
  const sent = nonce.safeParse((input as { nonce?: unknown }).nonce);
  return sent.success ? sent.data : undefined;
}

/**
 * `require_encryption`: refuses a request of `client` whose parameters did not come sealed — GETs
 * too, whose license key and HWID would otherwise travel in the clear query string. The guard
 * applies it to the application a request names by `app_id`; a route that learns its application
 * otherwise (a user token's) applies it itself.
 */
export function requireSealedRequest(request: FastifyRequest, client: ClientApplication): void {
  if (!client.settings.require_encryption || request.sealedRequest) return;
  throw new AppError(
    'ENCRYPTION_REQUIRED',
    request.method === 'GET'
      ? 'This application accepts encrypted requests only: X-Body-Encryption: aes-256-gcm with the parameters in ?payload='
      : 'This application accepts encrypted requests only (X-Body-Encryption: aes-256-gcm)',
    400,
  );
}

/**
 * A client route's own answers, its errors included, are bound once its handler has read the
 * request (`bindClientAnswer`). What refuses the request before that — this guard (RATE_LIMITED,
 * ENCRYPTION_REQUIRED, unstorable text) and the route's schema (VALIDATION_ERROR) — is bound here
 * the same way (the nonce, and the request as the route's declared subject names it), so that a
 * signed refusal recorded for one request cannot be replayed for another, and an SDK that checks
 * both (every SDK so far) takes it for the refusal it is. An onError hook: requests that are not
 * refused pay nothing. Answers given before the application is known (no `clientApp`: unknown
 * `app_id`, a body that is not JSON) are not signed, and stay as they are.
 */
const bindRefusal: onErrorHookHandler = (request, _reply, _error, done) => {
  if (request.answerBinding === null && request.clientApp !== null) {
    const sent = refusedRequestNonce(request);
    if (sent !== undefined) bindClientAnswer(request, sent);
  }
  done();
};

/**
 * One hook in front of every client route: finds the application once (so even refusals are
 * signed), opens an encrypted body or enforces `require_encryption`, and applies the
 * application's `rate_limit_per_minute` per client IP (0 = none).
 */
export function installClientGuard(app: FastifyInstance, deps: Deps) {
  const counter = new ClientRateCounter();

  /**
   * The rate limit, counted for every request before anything else is decided about it: refusals
   * (a payload that does not decrypt, an unknown application) cost work too and count the same.
   */
  const limit = (request: FastifyRequest, reply: FastifyReply, client: ClientApplication | null) => {
    const max = client ? client.settings.rate_limit_per_minute : DEFAULT_CLIENT_LIMIT;
    if (max === 0) return;
    const { count, resetMs } = counter.hit(client, limitKeyOf(request.ip));
    if (count > max) throw tooManyRequests(reply, max, resetMs);
  };

  /** `require_encryption`, once the request is opened (or known to be plain). */
  const requireEncryption = (request: FastifyRequest, client: ClientApplication | null) => {
    if (client) requireSealedRequest(request, client);
  };

  /** The checks once the application is known (null: unknown); throws to refuse. */
  const check = (request: FastifyRequest, reply: FastifyReply, appId: string | null, client: ClientApplication | null) => {
    // Set first, so that even a refusal is signed with the application's key.
    if (client) request.clientApp = client;
    limit(request, reply, client);
    const mode = request.headers['x-body-encryption'];
    if (mode !== undefined) {
      if (mode !== BODY_ENCRYPTION) throw new AppError('VALIDATION_ERROR', `X-Body-Encryption must be ${BODY_ENCRYPTION}`, 400);
      openEncryptedRequest(request, appId, client);
    }
    // What the request says (decrypted, if it came sealed) is held to the storable-text rule here,
    // before any of it reaches a lookup batch or the usage flush shared with other applications.
    const unstorable = unstorableTextError({ body: request.body, querystring: request.query });
    if (unstorable) throw unstorable;
    requireEncryption(request, client);
  };

  const slowPath = async (request: FastifyRequest, reply: FastifyReply, appId: string | null) => {
    check(request, reply, appId, appId ? await deps.apps.get(appId) : null);
  };

  // Callback style with a synchronous fast path: a request for a cached application (the
  // validation hot path) costs no promise here.
  const guard = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const appId = appIdOf(request);
    const cached = appId ? deps.apps.peek(appId) : null;
    if (cached === undefined) return void slowPath(request, reply, appId).then(() => done(), done);
    try {
      check(request, reply, appId, cached);
    } catch (err) {
      return done(err as Error);
    }
    done();
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    if (routePolicy(route).access !== 'client') return;
    // Every client answer names its request (client-app.ts), refusals included.
    if (!route.config?.answerSubject) throw new Error(`client route ${route.method} ${route.url} declares no config.answerSubject`);
    const existing = route.preValidation;
    route.preValidation = existing ? [...(Array.isArray(existing) ? existing : [existing]), guard] : [guard];
    const onError = route.onError;
    route.onError = onError ? [...(Array.isArray(onError) ? onError : [onError]), bindRefusal] : [bindRefusal];
  });
}
