import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Deps } from '../core/deps.js';
import { AppError } from '../core/errors.js';
import { CLIENT_ROUTES } from './client-routes.js';

type Counter = { current: number; ttl: number };
type Incr = (key: string, cb: (err: Error | null, res?: Counter) => void, timeWindow: number, max: number) => void;

interface StoreLike {
  incr: Incr;
  child(routeOptions: Record<string, unknown>): StoreLike;
}

/** In-process fixed windows; also the fallback whenever Redis does not answer. */
class LocalCounters implements StoreLike {
  private readonly windows = new Map<string, { count: number; start: number }>();

  incr: Incr = (key, cb, timeWindow) => {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.start + timeWindow <= now) {
      if (this.windows.size > 50_000) this.sweep(now, timeWindow);
      w = { count: 0, start: now };
      this.windows.set(key, w);
    }
    w.count++;
    cb(null, { current: w.count, ttl: w.start + timeWindow - now });
  };

  child(): StoreLike {
    return new LocalCounters();
  }

  private sweep(now: number, timeWindow: number) {
    for (const [k, w] of this.windows) if (w.start + timeWindow <= now) this.windows.delete(k);
  }
}

const INCR_SCRIPT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`;

/**
 * Shared counters in Redis, so limits hold across API replicas. When Redis is down (or slow),
 * counting falls back to this process instead of failing or blocking the request.
 */
class RedisWithFallback implements StoreLike {
  private readonly local = new LocalCounters();

  constructor(
    private readonly redis: Redis | null,
    private readonly prefix: string,
  ) {}

  incr: Incr = (key, cb, timeWindow, max) => {
    const redis = this.redis;
    if (!redis || redis.status !== 'ready') return this.local.incr(key, cb, timeWindow, max);
    let done = false;
    const fallback = () => {
      if (done) return;
      done = true;
      this.local.incr(key, cb, timeWindow, max);
    };
    // A Redis that is up but not answering must not hold the request for long either.
    const timer = setTimeout(fallback, 1000);
    redis.eval(INCR_SCRIPT, 1, this.prefix + key, timeWindow).then(
      (res) => {
        clearTimeout(timer);
        if (done) return;
        done = true;
        const [current, ttl] = res as [number, number];
        cb(null, { current, ttl: ttl > 0 ? ttl : timeWindow });
      },
      () => {
        clearTimeout(timer);
        fallback();
      },
    );
  };

  child(routeOptions: Record<string, unknown>): StoreLike {
    // Client routes count per instance (API.md: validation never waits on Redis).
    if (routeOptions.localOnly) return new LocalCounters();
    return this;
  }
}

export interface RateLimitSettings {
  sellerPerMinute: number;
  authPerMinute: number;
  redis: Redis | null;
  prefix: string;
}

/** Where passwords are tried: limited per IP, tightly, against brute force. */
const LOGIN_ROUTES = new Set(['POST /api/auth/register', 'POST /api/auth/login', 'POST /api/user-auth/create', 'POST /api/user-auth/login']);
// Login routes of the client API are limited as logins (per IP), the rest per application.
const UNLIMITED = /^\/(api\/health|openapi\.json|docs|discord\/|admin\/)/;

function clientAppId(request: FastifyRequest): string | null {
  const body = request.body as { app_id?: unknown } | undefined;
  const query = request.query as { app_id?: unknown } | undefined;
  const id = body?.app_id ?? query?.app_id;
  return typeof id === 'string' ? id.toLowerCase() : null;
}

/**
 * Rate limits with @fastify/rate-limit: seller routes per token, password routes per IP, client
 * routes per application and IP with the application's `rate_limit_per_minute` (0 = none).
 * Over the limit: 429 RATE_LIMITED with Retry-After and the RateLimit-* headers.
 */
export async function installRateLimits(app: FastifyInstance, deps: Deps, settings: RateLimitSettings) {
  const store = new RedisWithFallback(settings.redis, `${settings.prefix}:ratelimit:`);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const id = `${methods[0]} ${route.url}`;
    if (!route.url.startsWith('/api/') || UNLIMITED.test(route.url) || methods.includes('HEAD')) return;
    route.config = { ...(route.config as object), rateLimit: limitFor(id) } as typeof route.config;
  });
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    store: function StoreFactory() {
      return store;
    } as unknown as never,
    errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', `Too many requests; retry in ${context.after}`, 429),
  });

  function limitFor(id: string) {
    if (LOGIN_ROUTES.has(id)) return { max: settings.authPerMinute, timeWindow: 60_000, groupId: 'login', keyGenerator: (r: FastifyRequest) => `ip:${r.ip}` };
    if (CLIENT_ROUTES.has(id)) {
      return {
        localOnly: true,
        hook: 'preHandler' as const,
        timeWindow: 60_000,
        groupId: 'client',
        keyGenerator: (r: FastifyRequest) => `app:${clientAppId(r) ?? '-'}:${r.ip}`,
        allowList: async (r: FastifyRequest) => (await perMinute(r)) === 0,
        max: async (r: FastifyRequest) => (await perMinute(r)) || Number.MAX_SAFE_INTEGER,
      };
    }
    return {
      max: settings.sellerPerMinute,
      timeWindow: 60_000,
      groupId: 'seller',
      keyGenerator: (r: FastifyRequest) => (r.actor ? `token:${r.actor.tokenId}` : `ip:${r.ip}`),
    };
  }

  /** The application's own limit; unknown applications get the default so floods stay bounded. */
  const limits = new WeakMap<FastifyRequest, Promise<number>>();
  function perMinute(r: FastifyRequest): Promise<number> {
    let limit = limits.get(r);
    if (!limit) {
      const appId = clientAppId(r);
      limit = (appId ? deps.apps.get(appId).catch(() => null) : Promise.resolve(null)).then((client) => client?.settings.rate_limit_per_minute ?? 300);
      limits.set(r, limit);
    }
    return limit;
  }
}
