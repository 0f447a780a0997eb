import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { BODY_ENCRYPTION } from '../core/body-encryption.js';
import type { ClientApplication } from '../core/applications/application-cache.js';
import type { Deps } from '../core/deps.js';
import { AppError } from '../core/errors.js';
import { openEncryptedRequest } from './body-encryption.js';
import { CLIENT_ROUTES, routeId } from './client-routes.js';

/** Requests per application and client IP per minute when the application is unknown. */
const DEFAULT_CLIENT_LIMIT = 300;
const WINDOW_MS = 60_000;

/**
 * Fixed one-minute windows per application and IP, in this process: validation must never wait
 * on Redis (API.md), so client limits are per API instance. Old windows are swept as it grows.
 */
export class ClientRateCounter {
  private readonly windows = new Map<string, { count: number; start: number }>();

  hit(key: string, now = Date.now()): { count: number; resetMs: number } {
    let w = this.windows.get(key);
    if (!w || w.start + WINDOW_MS <= now) {
      if (this.windows.size >= 100_000) this.sweep(now);
      w = { count: 0, start: now };
      this.windows.set(key, w);
    }
    w.count++;
    return { count: w.count, resetMs: w.start + WINDOW_MS - now };
  }

  private sweep(now: number) {
    for (const [k, w] of this.windows) if (w.start + WINDOW_MS <= now) this.windows.delete(k);
  }
}

function appIdOf(request: FastifyRequest): string | null {
  const body = request.body as { app_id?: unknown } | undefined;
  if (typeof body?.app_id === 'string') return body.app_id;
  const query = request.query as { app_id?: unknown } | undefined;
  return typeof query?.app_id === 'string' ? query.app_id : null;
}

/**
 * One hook in front of every client route: finds the application once (so even refusals are
 * signed), opens an encrypted body or enforces `require_encryption`, and applies the
 * application's `rate_limit_per_minute` per client IP (0 = none).
 */
export function installClientGuard(app: FastifyInstance, deps: Deps) {
  const counter = new ClientRateCounter();

  /** The checks once the application is known; throws to refuse. */
  const check = (request: FastifyRequest, reply: FastifyReply, appId: string | null, client: ClientApplication | null) => {
    if (client && !request.bodyKey) {
      request.clientApp = client;
      // A GET has no body to encrypt; require_encryption concerns bodies.
      if (client.settings.require_encryption && request.method !== 'GET') {
        throw new AppError('ENCRYPTION_REQUIRED', 'This application accepts encrypted requests only (X-Body-Encryption: aes-256-gcm)', 400);
      }
    }
    const limit = client ? client.settings.rate_limit_per_minute : DEFAULT_CLIENT_LIMIT;
    if (limit === 0) return;
    const { count, resetMs } = counter.hit(`${client?.appId ?? appId ?? '-'}|${request.ip}`);
    if (count <= limit) return;
    const seconds = Math.max(1, Math.ceil(resetMs / 1000));
    reply.header('retry-after', String(seconds)).header('ratelimit-limit', String(limit)).header('ratelimit-remaining', '0').header('ratelimit-reset', String(seconds));
    throw new AppError('RATE_LIMITED', `Too many requests; retry in ${seconds} seconds`, 429);
  };

  const slowPath = async (request: FastifyRequest, reply: FastifyReply, appId: string | null) => {
    const mode = request.headers['x-body-encryption'];
    let client: ClientApplication | null = null;
    if (mode !== undefined) {
      if (mode !== BODY_ENCRYPTION) throw new AppError('VALIDATION_ERROR', `X-Body-Encryption must be ${BODY_ENCRYPTION}`, 400);
      client = await openEncryptedRequest(deps, request, appId);
    } else if (appId) {
      client = await deps.apps.get(appId);
    }
    check(request, reply, appId, client);
  };

  // Callback style with a synchronous fast path: a plain request for a cached application (the
  // validation hot path) costs no promise here.
  const guard = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const appId = appIdOf(request);
    if (request.headers['x-body-encryption'] === undefined) {
      const cached = appId ? deps.apps.peek(appId) : null;
      if (cached !== undefined) {
        try {
          check(request, reply, appId, cached);
        } catch (err) {
          return done(err as Error);
        }
        return done();
      }
    }
    slowPath(request, reply, appId).then(() => done(), done);
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((m) => CLIENT_ROUTES.has(routeId(m, route.url)))) return;
    const existing = route.preValidation;
    route.preValidation = existing ? [...(Array.isArray(existing) ? existing : [existing]), guard] : [guard];
  });
}
