import { settleWithin } from '../../settle-within.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Deps } from '../../core/deps.js';

export type HealthCheck = () => Promise<'ok' | 'down'>;

export interface HealthOptions {
  deps: Deps;
  version: string;
  startedAt: number;
  /** Extra dependencies to report (Redis once jobs exist); a 'down' here degrades, not fails. */
  optionalChecks?: Record<string, HealthCheck>;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthOptions> = async (app, opts) => {
  app.get('/api/health', { config: { access: 'public' }, schema: { tags: ['Health'], summary: 'Service health' } }, async (_request, reply) => {
    const availability = opts.deps.dbAvailability;
    const database = await settleWithin(
      opts.deps.db.query('select 1').then(
        () => {
          availability.reportReachable();
          return 'ok' as const;
        },
        (err: unknown) => {
          void availability.reportError(err);
          return 'down' as const;
        },
      ),
      2000,
      'down' as const,
    );
    const checks: Record<string, 'ok' | 'down'> = { database };
    for (const [name, check] of Object.entries(opts.optionalChecks ?? {})) {
      checks[name] = await settleWithin(check().catch(() => 'down' as const), 2000, 'down' as const);
    }
    const status = database === 'down' ? 'down' : Object.values(checks).every((c) => c === 'ok') ? 'ok' : 'degraded';
    const body = {
      status,
      version: opts.version,
      uptime_s: Math.floor((Date.now() - opts.startedAt) / 1000),
      checks,
    };
    // A 503 still carries the error shape every non-2xx answer has.
    if (database === 'down') return reply.code(503).send({ success: false, code: 'UNAVAILABLE', message: 'The database is unreachable', ...body });
    return body;
  });
};
