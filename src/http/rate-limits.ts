import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { AppError } from '../core/errors.js';
import { routePolicy, type RouteLimit } from './route-policy.js';
import { compactKey, FixedWindows } from './fixed-windows.js';
import { installTokenLookupLimit } from './token-lookup-limit.js';
import { limitKeyOf } from './client-address.js';

type Counter = { current: number; ttl: number };
type Incr = (key: string, cb: (err: Error | null, res?: Counter) => void, timeWindow: number, max: number) => void;

interface StoreLike {
  incr: Incr;
  child(routeOptions: Record<string, unknown>): StoreLike;
}

/** At ~200 bytes a window, local counting holds at most ~20 MB whatever clients send. */
const MAX_LOCAL_WINDOWS = 100_000;

/** In-process fixed windows; also the fallback whenever Redis does not answer. */
class LocalCounters implements StoreLike {
  private readonly windows = new FixedWindows(MAX_LOCAL_WINDOWS);

  incr: Incr = (key, cb, timeWindow) => {
    const { count, resetMs } = this.windows.hit(key, timeWindow);
    cb(null, { current: count, ttl: resetMs });
  };

  child(): StoreLike {
    return new LocalCounters();
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

  child(): StoreLike {
    return this;
  }
}

export interface RateLimitSettings {
  sellerPerMinute: number;
  authPerMinute: number;
  redis: Redis | null;
  prefix: string;
}

/**
 * Rate limits with @fastify/rate-limit, by the class each route declares (route-policy.ts): seller
 * routes per token and password routes per IP, shared through Redis. Over the limit: 429
 * RATE_LIMITED with Retry-After and the RateLimit-* headers. (Client routes: see client-guard.ts.)
 */
export async function installRateLimits(app: FastifyInstance, settings: RateLimitSettings) {
  // Unknown bearer tokens count per IP like failed logins: they are credential guesses too.
  installTokenLookupLimit(app, settings.authPerMinute);
  const store = new RedisWithFallback(settings.redis, `${settings.prefix}:ratelimit:`);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.includes('HEAD')) return;
    // The class each route declares (route-policy.ts). Outside /api (docs, the Discord door, the
    // dashboard's own pages) only a declared class counts: those routes are not seller routes.
    const declared = (route.config as { limit?: unknown } | undefined)?.limit !== undefined;
    if (!route.url.startsWith('/api/') && !declared) return;
    const policy = routePolicy(route);
    const limit = limitFor(policy.limit, policy.access === 'client');
    if (limit) route.config = { ...(route.config as object), rateLimit: limit } as typeof route.config;
  });
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    store: function StoreFactory() {
      return store;
    } as unknown as never,
    errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', `Too many requests; retry in ${context.after}`, 429),
  });

  function limitFor(limit: RouteLimit, clientRoute: boolean) {
    if (limit === 'login') {
      const login = { max: settings.authPerMinute, timeWindow: 60_000, groupId: 'login', keyGenerator: (r: FastifyRequest) => `ip:${compactKey(limitKeyOf(r.ip))}` };
      // A client route's (an application's user login) is counted once the client guard has found
      // the application (preValidation): its 429 is then signed and names the request, as every
      // other answer of that route does (client-guard.ts), not a bare refusal anyone could forge.
      return clientRoute ? { ...login, hook: 'preHandler' as const } : login;
    }
    if (limit !== 'seller') return false;
    return {
      max: settings.sellerPerMinute,
      timeWindow: 60_000,
      groupId: 'seller',
      keyGenerator: (r: FastifyRequest) => (r.actor ? `token:${r.actor.tokenId}` : `ip:${compactKey(limitKeyOf(r.ip))}`),
    };
  }
}
