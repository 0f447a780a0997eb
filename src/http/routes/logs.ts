import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listLogs, type LogEntry } from '../../core/logs/list-logs.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { cursorQuery, pageOfRequest, pageQuery, sendKeysetPage } from '../pagination.js';
import { dateTime, idParams } from '../schemas.js';

const logEntryView = z.object({
  id: z.number().int(),
  type: z.enum(['audit', 'validation']),
  actor: z
    .object({
      kind: z.string().describe('developer, discord, client or system'),
      id: z.string().nullable(),
      name: z.string().nullable(),
    })
    .describe('Who did it'),
  action: z.string().describe('e.g. license.banned, or license.validated for a validation record'),
  target: z.string().nullable().describe('What it was done to, as kind:id (license:42)'),
  details: z.record(z.string(), z.unknown()).describe("The action's particulars; a validation record's code, hwid and count"),
  ip: z.string().nullable(),
  created_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<LogEntry>;

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
        response: { 200: z.array(logEntryView).describe('Newest first; X-Next-Cursor continues the walk') },
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
