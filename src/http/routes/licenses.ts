import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LICENSE_STATUSES } from '../../db/schema.js';
import { deleteLicense } from '../../core/licenses/delete-license.js';
import { generateLicenses } from '../../core/licenses/generate-licenses.js';
import { startGenerationJob } from '../../core/jobs/start-generation-job.js';
import { getLicense } from '../../core/licenses/get-license.js';
import { banLicense, extendLicense, unbanLicense, updateLicenseNotes } from '../../core/licenses/license-actions.js';
import { listLicenses, listMyLicenses } from '../../core/licenses/list-licenses.js';
import { listLicenseUsers } from '../../core/licenses/list-license-users.js';
import { resetLicenseHwid } from '../../core/licenses/reset-license-hwid.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { cursorQuery, pageOfRequest, pageOnlyQuery, pageQuery, pageRequestOf, sendKeysetPage, sendPage } from '../pagination.js';
import { bodyId, id, idParams } from '../schemas.js';

const tags = ['Licenses'];

const listQuery = z.object({
  ...pageQuery,
  ...cursorQuery,
  status: z.enum(LICENSE_STATUSES).optional(),
  plan_id: id.optional(),
  search: z.string().max(200).optional(),
  discord_user_id: z.string().regex(/^\d{17,20}$/).optional(),
});

const filtersOf = ({ status, plan_id, search, discord_user_id }: z.infer<typeof listQuery>) => ({ status, plan_id, search, discord_user_id });

export const licenseRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.post(
    '/api/licenses/generate',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Generate license keys',
        body: z.object({
          plan_id: bodyId,
          count: z.number().int().min(1).max(100_000),
          format: z.enum(['random', 'custom']).default('random'),
          prefix: z.string().max(32).nullable().optional(),
          custom_format: z.string().max(128).nullable().optional(),
          notes: z.string().max(1000).nullable().optional(),
          discord_user_id: z.string().regex(/^\d{17,20}$/).nullable().optional(),
        }),
      },
    },
    async (request, reply) => {
      // Up to the synchronous limit the keys come back at once; beyond it a background job makes them.
      if (request.body.count <= deps.limits.maxSyncGenerate) return { licenses: await generateLicenses(deps, sellerActor(request), request.body) };
      return reply.code(202).send({ job: await startGenerationJob(deps, sellerActor(request), request.body) });
    },
  );

  app.get(
    '/api/applications/:appId/licenses',
    { schema: { tags, summary: "An application's licenses", params: z.object({ appId: id }), querystring: listQuery } },
    async (request, reply) => {
      const page = pageOfRequest(request.query);
      const result = await listLicenses(deps, sellerActor(request), request.params.appId, filtersOf(request.query), { page: page.page, perPage: page.per_page, afterId: page.cursor?.afterId });
      return sendKeysetPage(request, reply, page, result);
    },
  );

  app.get('/api/licenses/mine', { schema: { tags, summary: 'Licenses of every application you can see', querystring: listQuery } }, async (request, reply) => {
    const page = pageOfRequest(request.query);
    const result = await listMyLicenses(deps, sellerActor(request), filtersOf(request.query), { page: page.page, perPage: page.per_page, afterId: page.cursor?.afterId });
    return sendKeysetPage(request, reply, page, result);
  });

  app.get('/api/licenses/:id', { schema: { tags, summary: 'One license', params: idParams } }, async (request) =>
    getLicense(deps, sellerActor(request), request.params.id),
  );

  app.put(
    '/api/licenses/:id/notes',
    { schema: { tags, summary: 'Set the notes', params: idParams, body: z.object({ notes: z.string().max(1000).nullable() }) } },
    async (request) => updateLicenseNotes(deps, sellerActor(request), request.params.id, request.body.notes),
  );

  app.delete('/api/licenses/:id', { schema: { tags, summary: 'Delete a license', params: idParams } }, async (request) =>
    deleteLicense(deps, sellerActor(request), request.params.id),
  );

  app.post('/api/licenses/:id/reset-hwid', { schema: { tags, summary: 'Unbind the HWID (no cooldown for sellers)', params: idParams } }, async (request) =>
    resetLicenseHwid(deps, sellerActor(request), request.params.id),
  );

  app.get(
    '/api/licenses/:id/users',
    { schema: { tags, summary: 'Application users registered with this license', params: idParams, querystring: pageOnlyQuery } },
    async (request, reply) => sendPage(request, reply, request.query, await listLicenseUsers(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.post(
    '/api/licenses/:id/ban',
    // The body is optional: Fastify hands a missing body to the validator as null, which a zod
    // `.default({})` (applied to undefined only) would refuse.
    { schema: { tags, summary: 'Ban a license', params: idParams, body: z.object({ reason: z.string().max(500).nullable().optional() }).nullish() } },
    async (request) => banLicense(deps, sellerActor(request), request.params.id, request.body?.reason ?? null),
  );

  app.post('/api/licenses/:id/unban', { schema: { tags, summary: 'Lift a ban', params: idParams } }, async (request) =>
    unbanLicense(deps, sellerActor(request), request.params.id),
  );

  app.post(
    '/api/licenses/:id/extend',
    { schema: { tags, summary: 'Add days', params: idParams, body: z.object({ days: z.number().int().min(1).max(36_500) }) } },
    async (request) => extendLicense(deps, sellerActor(request), request.params.id, request.body.days),
  );
};
