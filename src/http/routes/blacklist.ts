import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { addBlacklistEntry, deleteBlacklistEntry, listBlacklist, type toBlacklistEntryView } from '../../core/blacklists/manage-blacklist.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';
import { errorResponse, messageResponse } from '../responses.js';
import { idParams } from '../schemas.js';

const tags = ['Blacklists'];

/** A blacklist entry, as every blacklist route answers it. */
const entryView = z.object({
  id: z.number().int(),
  application_id: z.number().int(),
  type: z.enum(['hwid', 'ip']),
  value: z.string().describe('A HWID; or an address, or network/prefix for a range (normalized: host bits cleared, IPv4-mapped IPv6 as IPv4)'),
  reason: z.string().nullable(),
  created_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toBlacklistEntryView>>;

const entryFields = z.object({
  type: z.enum(['hwid', 'ip']),
  value: z.string().min(1).max(256).describe('hwid: the HWID (≤ 256); ip: an IPv4/IPv6 address or CIDR range'),
  reason: z.string().trim().max(500).nullable().optional(),
});

export const blacklistRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.post(
    '/api/applications/:id/blacklist',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Blacklist a HWID or an IP address/range (client routes then answer BLACKLISTED)',
        params: idParams,
        body: entryFields,
        response: {
          201: entryView,
          409: errorResponse.describe('Already blacklisted (CONFLICT), or the application holds 10,000 entries (LIMIT_REACHED)'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await addBlacklistEntry(deps, sellerActor(request), { ...request.body, application_id: request.params.id })),
  );

  app.get(
    '/api/applications/:id/blacklist',
    { schema: { tags, summary: "An application's blacklist", params: idParams, querystring: pageOnlyQuery, response: { 200: z.array(entryView) } } },
    async (request, reply) => sendPage(request, reply, request.query, await listBlacklist(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.delete('/api/blacklist/:id', { schema: { tags, summary: 'Remove a blacklist entry', params: idParams, response: { 200: messageResponse } } }, async (request) => {
    await deleteBlacklistEntry(deps, sellerActor(request), request.params.id);
    return { message: 'Blacklist entry deleted' };
  });
};
