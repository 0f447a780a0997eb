import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listLogs } from '../../core/logs/list-logs.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { cursorQuery, pageOfRequest, pageQuery, sendKeysetPage } from '../pagination.js';
import { dateTime, idParams } from '../schemas.js';

export const logRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));
  app.get(
    '/api/applications/:id/logs',
    {
      schema: {
        tags: ['Logs'],
        summary: 'Audit log or validation records',
        params: idParams,
        querystring: z.object({ ...pageQuery, ...cursorQuery, type: z.enum(['audit', 'validation']).default('audit'), since: dateTime.optional(), until: dateTime.optional() }),
      },
    },
    async (request, reply) => {
      const { type, since, until } = request.query;
      const page = pageOfRequest(request.query);
      const result = await listLogs(deps, sellerActor(request), request.params.id, {
        type,
        since: since ? new Date(since) : undefined,
        until: until ? new Date(until) : undefined,
        page: page.page,
        perPage: page.per_page,
        afterId: page.cursor?.afterId,
        knownTotal: page.cursor?.total,
      });
      return sendKeysetPage(request, reply, page, result, { carryTotal: true });
    },
  );
};
