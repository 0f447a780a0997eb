import { settleWithin } from '../../settle-within.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { errorResponse } from '../responses.js';

export type HealthCheck = () => Promise<'ok' | 'down'>;

export interface HealthOptions {
  deps: Deps;
  version: string;
  startedAt: number;
  /** Extra dependencies to report (Redis once jobs exist); a 'down' here degrades, not fails. */
  optionalChecks?: Record<string, HealthCheck>;
}

const check = z.enum(['ok', 'down']);
const healthFields = {
  version: z.string(),
  uptime_s: z.number().int().describe('Seconds since this process started'),
  checks: z.object({ database: check }).catchall(check).describe('Each dependency: `database` always, `redis` when jobs run on BullMQ, `discord` in gateway mode (its session)'),
};

const healthy = z.object({
  status: z.enum(['ok', 'degraded']).describe('degraded: an optional dependency (Redis, the Discord gateway) is down; the API still serves'),
  ...healthFields,
});

/** Like every route, health refuses a URL whose query string could not be stored or logged (storable-text.ts). */
const badUrl = errorResponse.describe('The URL is not valid (VALIDATION_ERROR)');

/** The error shape of API.md with the health figures beside it. */
const unhealthy = errorResponse.extend({ status: z.literal('down'), ...healthFields }).describe('The database is unreachable (UNAVAILABLE), with the checks');

export const healthRoutes: FastifyPluginAsyncZod<HealthOptions> = async (app, opts) => {
  app.get(
    '/api/health',
    { config: { access: 'public' }, schema: { tags: ['Health'], summary: 'Service health', response: { 200: healthy, 400: badUrl, 503: unhealthy } } },
    async (_request, reply) => {
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
      const checks: { database: 'ok' | 'down'; [name: string]: 'ok' | 'down' } = { database };
      for (const [name, check] of Object.entries(opts.optionalChecks ?? {})) {
        checks[name] = await settleWithin(
          check().catch(() => 'down' as const),
          2000,
          'down' as const,
        );
      }
      const body = {
        version: opts.version,
        uptime_s: Math.floor((Date.now() - opts.startedAt) / 1000),
        checks,
      };
      // A 503 still carries the error shape every non-2xx answer has.
      if (database === 'down') return reply.code(503).send({ success: false, code: 'UNAVAILABLE', message: 'The database is unreachable', status: 'down', ...body });
      return { status: Object.values(checks).every((c) => c === 'ok') ? ('ok' as const) : ('degraded' as const), ...body };
    },
  );
};
