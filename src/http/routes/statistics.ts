import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getStatistics } from '../../core/statistics/get-statistics.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { id } from '../schemas.js';

export const statisticsRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));
  app.get(
    '/api/statistics',
    { schema: { tags: ['Statistics'], summary: 'Licenses, users and validations (30 days)', querystring: z.object({ application_id: id.optional() }) } },
    async (request) => getStatistics(deps, sellerActor(request), request.query.application_id),
  );
};
