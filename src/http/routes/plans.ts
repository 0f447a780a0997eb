import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createPlan } from '../../core/plans/create-plan.js';
import { deletePlan } from '../../core/plans/delete-plan.js';
import { listPlans } from '../../core/plans/list-plans.js';
import { updatePlan } from '../../core/plans/update-plan.js';
import type { toPlanView } from '../../core/plans/plan-view.js';
import { sharingSettingsSchema } from '../../core/applications/application-settings.js';
import { errorResponse } from '../responses.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { bodyId, idParams } from '../schemas.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';

const tags = ['Plans'];

/** A plan, as every plan route answers it. */
const planView = z.object({
  id: z.number().int(),
  application_id: z.number().int(),
  name: z.string(),
  duration_days: z.number().int().describe('0 = lifetime'),
  max_hwids: z.number().int().nullable(),
  hwid_reset_cooldown_hours: z.number().int().nullable(),
  discord_role_id: z.string().nullable(),
  sharing: sharingSettingsSchema.nullable().describe("Key-sharing thresholds for this plan's licenses, replacing the application's setting; null = the application's"),
  max_concurrent: z.number().int().nullable().describe("Floating seats: HWIDs that may hold a seat at once, replacing the application's setting; null = the application's"),
  heartbeat_interval_s: z.number().int().nullable().describe("Seconds between heartbeats, replacing the application's setting; null = the application's"),
  max_offline_hours: z.number().int().nullable().describe("Longest offline lease in hours (0 = leases off), replacing the application's setting; null = the application's"),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toPlanView>>;

const planFields = z.object({
  name: z.string().trim().min(1).max(100),
  duration_days: z.number().int().min(0).max(36_500).describe('0 = lifetime'),
  max_hwids: z.number().int().min(1).max(100).nullable().optional(),
  hwid_reset_cooldown_hours: z
    .number()
    .int()
    .min(0)
    .max(24 * 365)
    .nullable()
    .optional(),
  discord_role_id: z
    .string()
    .regex(/^\d{17,20}$/, 'a Discord snowflake')
    .nullable()
    .optional()
    .describe("The role the bot grants to whoever redeems one of the plan's keys; never the seller role of a server linked to the application (400)"),
  sharing: sharingSettingsSchema
    .partial()
    .nullable()
    .optional()
    .describe("Replaces the application's `sharing` setting for this plan's licenses (a field left out: null, action alert); null = the application's"),
  max_concurrent: z.number().int().min(1).max(1000).nullable().optional().describe("Floating seats, replacing the application's `max_concurrent`; null = the application's"),
  heartbeat_interval_s: z.number().int().min(10).max(86_400).nullable().optional().describe("Replaces the application's `heartbeat_interval_s`; null = the application's"),
  max_offline_hours: z.number().int().min(0).max(8760).nullable().optional().describe("Replaces the application's `max_offline_hours` (0 = leases off); null = the application's"),
});

export const planRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.post(
    '/api/plans/',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Create a plan',
        body: planFields.extend({ application_id: bodyId }),
        response: {
          201: planView,
          404: errorResponse.describe('No such application (or not yours)'),
          409: errorResponse.describe('The application has its maximum of plans (LIMIT_REACHED), or an Idempotency-Key reused with another body or still in progress'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await createPlan(deps, sellerActor(request), request.body)),
  );

  app.get(
    '/api/applications/:id/plans',
    { schema: { tags, summary: "An application's plans", params: idParams, querystring: pageOnlyQuery, response: { 200: z.array(planView) } } },
    async (request, reply) => sendPage(request, reply, request.query, await listPlans(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.put('/api/plans/:id', { schema: { tags, summary: 'Update a plan', params: idParams, body: planFields.partial(), response: { 200: planView } } }, async (request) =>
    updatePlan(deps, sellerActor(request), request.params.id, request.body),
  );

  app.delete(
    '/api/plans/:id',
    {
      schema: {
        tags,
        summary: 'Delete a plan (409 while licenses use it, unless force=true)',
        params: idParams,
        querystring: z.object({ force: z.enum(['true', 'false']).default('false') }),
        response: {
          200: z.object({ message: z.string(), licenses_deleted: z.number().int() }),
          409: errorResponse.describe('Licenses still use the plan (PLAN_IN_USE): delete with force=true'),
        },
      },
    },
    async (request) => {
      const result = await deletePlan(deps, sellerActor(request), request.params.id, { force: request.query.force === 'true' });
      return { message: 'Plan deleted', ...result };
    },
  );
};
