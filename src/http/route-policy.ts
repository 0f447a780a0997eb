import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * Who may call a route: `seller` (a developer's bearer token; the default of every /api route),
 * `client` (a customer app by `app_id`: the client guard's per-application limit, encrypted bodies,
 * signed answers) or `public` (anyone: health, sign-up, log-in).
 */
type RouteAccess = 'seller' | 'client' | 'public';

/**
 * How a route is rate limited: `login` (per IP, tightly: a password is tried there), `seller` (per
 * token), `client` (per application and IP, by the client guard, in process) or `none`.
 */
export type RouteLimit = 'login' | 'seller' | 'client' | 'none';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's access, declared where the route is defined (route-policy.ts). */
    access?: RouteAccess;
    /** Its rate-limit class when not the access's own (route-policy.ts). */
    limit?: RouteLimit;
  }
}

export interface RoutePolicy {
  access: RouteAccess;
  limit: RouteLimit;
}

const DEFAULT_LIMIT: Record<RouteAccess, RouteLimit> = { seller: 'seller', client: 'client', public: 'none' };

/**
 * The policy a route declared in its `config`. The guards (client guard, rate limits) and the
 * OpenAPI document read it from here, so a route's URL can change without it losing a guard.
 */
export function routePolicy(route: Pick<RouteOptions, 'config'>): RoutePolicy {
  const config = (route.config ?? {}) as { access?: RouteAccess; limit?: RouteLimit };
  const access = config.access ?? 'seller';
  return { access, limit: config.limit ?? DEFAULT_LIMIT[access] };
}

/** Routes that take no developer token say so in the OpenAPI document (`security: []`). */
export function installRoutePolicy(app: FastifyInstance) {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (routePolicy(route).access === 'seller') return;
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    route.schema = { ...schema, security: [] } as RouteOptions['schema'];
  });
}
