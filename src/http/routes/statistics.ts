import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getStatistics } from '../../core/statistics/get-statistics.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { errorResponse } from '../responses.js';
import { id } from '../schemas.js';

const count = z.number().int();
const statisticsView = z.object({
  licenses: z.object({ total: count, inactive: count, active: count, expired: count, banned: count }),
  users: z.object({ total: count }),
  validations: z.object({
    last_24h: count.describe('Today (UTC)'),
    last_7d: count.describe('The last seven UTC days'),
    success_rate: z.number().min(0).max(1).nullable().describe('Over the last seven days; null without validations'),
  }),
  daily: z.array(z.object({ date: z.string().describe('YYYY-MM-DD (UTC)'), validations: count, failures: count, generated: count })).describe('The last 30 days, oldest first'),
}) satisfies z.ZodType<Awaited<ReturnType<typeof getStatistics>>>;

export const statisticsRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));
  app.get(
    '/api/statistics',
    {
      schema: {
        tags: ['Statistics'],
        summary: 'Licenses, users and validations (30 days)',
        querystring: z.object({ application_id: id.optional().describe("Omit for all of the caller's applications") }),
        response: { 200: statisticsView, 404: errorResponse.describe('No such application (or not yours)') },
      },
    },
    async (request) => getStatistics(deps, sellerActor(request), request.query.application_id),
  );
};
