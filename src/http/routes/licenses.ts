import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LICENSE_STATUSES } from '../../core/licenses/license-view.js';
import { deleteLicense } from '../../core/licenses/delete-license.js';
import { generateLicenses, generatesNow } from '../../core/licenses/generate-licenses.js';
import { startGenerationJob } from '../../core/jobs/start-generation-job.js';
import { getLicense } from '../../core/licenses/get-license.js';
import { banLicense, extendLicense, unbanLicense, updateLicenseNotes } from '../../core/licenses/license-actions.js';
import { listLicenses, listMyLicenses } from '../../core/licenses/list-licenses.js';
import { listLicenseUsers } from '../../core/licenses/list-license-users.js';
import { resetLicenseHwid } from '../../core/licenses/reset-license-hwid.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { errorResponse, messageResponse } from '../responses.js';
import { appUserView } from '../views/app-user.js';
import { jobView } from '../views/job.js';
import { licenseStatus, licenseView, planRef } from '../views/license.js';
import { cursorQuery, pageOfRequest, pageOnlyQuery, pageQuery, pageRequestOf, sendKeysetPage, sendPage } from '../pagination.js';
import { bodyId, id, idParams } from '../schemas.js';

const tags = ['Licenses'];

const listQuery = z.object({
  ...pageQuery,
  ...cursorQuery,
  status: z.enum(LICENSE_STATUSES).optional(),
  plan_id: id.optional(),
  search: z.string().max(200).optional(),
  discord_user_id: z
    .string()
    .regex(/^\d{17,20}$/)
    .optional(),
});

/** A key as `generate` answers it (API.md, PoPaAP's shape). */
const generatedLicense = z.object({
  id: z.number().int(),
  license_key: z.string(),
  status: licenseStatus,
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
  plan: planRef,
}) satisfies z.ZodType<Awaited<ReturnType<typeof generateLicenses>>[number]>;

const resetAnswer = z.object({
  message: z.string(),
  license: z.object({ id: z.number().int(), license_key: z.string(), status: licenseStatus, hwid: z.null() }),
}) satisfies z.ZodType<Awaited<ReturnType<typeof resetLicenseHwid>>>;

/** Every seller write to one license retries on a fresh read; a flood of concurrent writes can outlast it. */
const keptChanging = 'The license kept changing while the change was being made (CONFLICT): try again';

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
          discord_user_id: z
            .string()
            .regex(/^\d{17,20}$/)
            .nullable()
            .optional(),
        }),
        response: {
          200: z.object({ licenses: z.array(generatedLicense) }).describe('Up to the synchronous limit (1000): the keys'),
          202: z.object({ job: jobView }).describe('Beyond it: a background job making them (GET /api/jobs/:id)'),
          400: errorResponse.describe('The request is not valid (VALIDATION_ERROR), or the custom_format mask is too weak (MASK_TOO_WEAK)'),
          404: errorResponse.describe('No such plan (or not yours)'),
          409: errorResponse.describe('The application is at its license limit (LIMIT_REACHED), or an Idempotency-Key reused with another body or still in progress'),
        },
      },
    },
    async (request, reply) => {
      // Up to the synchronous limit the keys come back at once; beyond it a background job makes them.
      if (generatesNow(deps, request.body.count)) return { licenses: await generateLicenses(deps, sellerActor(request), request.body) };
      return reply.code(202).send({ job: await startGenerationJob(deps, sellerActor(request), request.body) });
    },
  );

  app.get(
    '/api/applications/:appId/licenses',
    { schema: { tags, summary: "An application's licenses", params: z.object({ appId: id }), querystring: listQuery, response: { 200: z.array(licenseView) } } },
    async (request, reply) => {
      const page = pageOfRequest(request.query);
      const result = await listLicenses(deps, sellerActor(request), request.params.appId, filtersOf(request.query), { page: page.page, perPage: page.per_page, afterId: page.cursor?.afterId });
      return sendKeysetPage(request, reply, page, result);
    },
  );

  app.get('/api/licenses/mine', { schema: { tags, summary: 'Licenses of every application you can see', querystring: listQuery, response: { 200: z.array(licenseView) } } }, async (request, reply) => {
    const page = pageOfRequest(request.query);
    const result = await listMyLicenses(deps, sellerActor(request), filtersOf(request.query), { page: page.page, perPage: page.per_page, afterId: page.cursor?.afterId });
    return sendKeysetPage(request, reply, page, result);
  });

  app.get('/api/licenses/:id', { schema: { tags, summary: 'One license', params: idParams, response: { 200: licenseView } } }, async (request) =>
    getLicense(deps, sellerActor(request), request.params.id),
  );

  app.put(
    '/api/licenses/:id/notes',
    {
      schema: {
        tags,
        summary: 'Set the notes',
        params: idParams,
        body: z.object({ notes: z.string().max(1000).nullable() }),
        response: { 200: licenseView, 409: errorResponse.describe(keptChanging) },
      },
    },
    async (request) => updateLicenseNotes(deps, sellerActor(request), request.params.id, request.body.notes),
  );

  app.delete('/api/licenses/:id', { schema: { tags, summary: 'Delete a license', params: idParams, response: { 200: messageResponse, 409: errorResponse.describe(keptChanging) } } }, async (request) =>
    deleteLicense(deps, sellerActor(request), request.params.id),
  );

  app.post(
    '/api/licenses/:id/reset-hwid',
    { schema: { tags, summary: 'Unbind the HWID (no cooldown for sellers)', params: idParams, response: { 200: resetAnswer, 409: errorResponse.describe(keptChanging) } } },
    async (request) => resetLicenseHwid(deps, sellerActor(request), request.params.id),
  );

  app.get(
    '/api/licenses/:id/users',
    { schema: { tags, summary: 'Application users registered with this license', params: idParams, querystring: pageOnlyQuery, response: { 200: z.array(appUserView) } } },
    async (request, reply) => sendPage(request, reply, request.query, await listLicenseUsers(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.post(
    '/api/licenses/:id/ban',
    // The body is optional: Fastify hands a missing body to the validator as null, which a zod
    // `.default({})` (applied to undefined only) would refuse.
    {
      schema: {
        tags,
        summary: 'Ban a license',
        params: idParams,
        body: z.object({ reason: z.string().max(500).nullable().optional() }).nullish(),
        response: { 200: licenseView, 409: errorResponse.describe(keptChanging) },
      },
    },
    async (request) => banLicense(deps, sellerActor(request), request.params.id, request.body?.reason ?? null),
  );

  app.post(
    '/api/licenses/:id/unban',
    {
      schema: {
        tags,
        summary: 'Lift a ban',
        params: idParams,
        response: { 200: licenseView, 409: errorResponse.describe(`The license is not banned (NOT_BANNED). ${keptChanging}`) },
      },
    },
    async (request) => unbanLicense(deps, sellerActor(request), request.params.id),
  );

  app.post(
    '/api/licenses/:id/extend',
    {
      schema: {
        tags,
        summary: 'Add days',
        params: idParams,
        body: z.object({ days: z.number().int().min(1).max(36_500) }),
        response: {
          200: licenseView,
          400: errorResponse.describe('The request is not valid, or the license would end after the year 9999 (VALIDATION_ERROR)'),
          409: errorResponse.describe(`A lifetime license cannot be extended (LIFETIME_LICENSE). ${keptChanging}`),
        },
      },
    },
    async (request) => extendLicense(deps, sellerActor(request), request.params.id, request.body.days),
  );
};
