import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EVENT_TYPES } from '../../core/events/emit-event.js';
import { createWebhook, deleteWebhook, LISTED_ATTEMPTS, listDeliveries, listWebhooks, MAX_DELIVERIES_PER_PAGE, redeliver, sendTestEvent, updateWebhook } from '../../core/webhooks/manage-webhooks.js';
import type { toDeliveryView, toWebhookView } from '../../core/webhooks/webhook-view.js';
import type { Deps } from '../../core/deps.js';
import { DELIVERY_STATUSES } from '../../core/webhooks/webhook-view.js';
import { MAX_ATTEMPTS_KEPT } from '../../core/webhooks/delivery-statements.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { errorResponse, messageResponse } from '../responses.js';
import { pageOnlyQuery, pageQuery, pageRequestOf, sendPage } from '../pagination.js';
import { bigId, id, idParams } from '../schemas.js';

const tags = ['Webhooks'];
const fields = z.object({
  url: z.string().max(2048),
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length),
  active: z.boolean().optional(),
});

const webhookFields = {
  id: z.number().int(),
  application_id: z.number().int(),
  url: z.string(),
  events: z.array(z.string()).describe(`Event types: ${EVENT_TYPES.join(', ')}`),
  active: z.boolean(),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
};
const webhookView = z.object(webhookFields) satisfies z.ZodType<ReturnType<typeof toWebhookView>>;
/** Only the answer that creates the webhook shows its secret. */
const createdWebhook = z.object({ ...webhookFields, secret: z.string().describe('The HMAC-SHA256 signing secret, shown once') });

const deliveryView = z.object({
  id: z.number().int().describe('X-Keycord-Delivery'),
  webhook_id: z.number().int(),
  event_id: z.number().int(),
  event_type: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  last_status_code: z.number().int().nullable(),
  created_at: z.string().describe('ISO 8601'),
  delivered_at: z
    .string()
    .nullable()
    .describe('ISO 8601: when it was delivered; null while it is pending or after it failed (a redelivery clears it until it succeeds; earlier successes stay in attempt_log)'),
  attempt_log: z
    .array(
      z.object({
        status_code: z.number().int().nullable().describe('null when the receiver did not answer (see error)'),
        duration_ms: z.number().int(),
        response_body: z.string().nullable().describe('The first 2 KB of the answer'),
        error: z.string().nullable(),
        created_at: z.string().describe('ISO 8601'),
      }),
    )
    .describe(
      `Its latest ${LISTED_ATTEMPTS} attempts, oldest first (with ?delivery_id=, every attempt its log keeps: the latest ${MAX_ATTEMPTS_KEPT}; empty in the answer to a redeliver); \`attempts\` counts them all`,
    ),
}) satisfies z.ZodType<ReturnType<typeof toDeliveryView>>;

const badUrl = errorResponse.describe('The request is not valid (VALIDATION_ERROR), or the url resolves to a private address (WEBHOOK_URL_PRIVATE) or does not resolve (WEBHOOK_URL_UNRESOLVABLE)');

export const webhookRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications/:id/webhooks',
    { schema: { tags, summary: "An application's webhooks", params: idParams, querystring: pageOnlyQuery, response: { 200: z.array(webhookView) } } },
    async (request, reply) => sendPage(request, reply, request.query, await listWebhooks(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.post(
    '/api/applications/:id/webhooks',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Add a webhook (secret shown once)',
        params: idParams,
        body: fields,
        response: {
          201: createdWebhook,
          400: badUrl,
          409: errorResponse.describe('The application has its maximum of webhooks (LIMIT_REACHED), or an Idempotency-Key reused with another body or still in progress'),
        },
      },
    },
    async (request, reply) => {
      const created = await createWebhook(deps, sellerActor(request), request.params.id, request.body);
      return reply.code(201).send({ ...created, secret: created.secret! });
    },
  );

  app.put('/api/webhooks/:id', { schema: { tags, summary: 'Change a webhook', params: idParams, body: fields.partial(), response: { 200: webhookView, 400: badUrl } } }, async (request) =>
    updateWebhook(deps, sellerActor(request), request.params.id, request.body),
  );

  app.delete('/api/webhooks/:id', { schema: { tags, summary: 'Remove a webhook', params: idParams, response: { 200: messageResponse } } }, async (request) =>
    deleteWebhook(deps, sellerActor(request), request.params.id),
  );

  app.post(
    '/api/webhooks/:id/test',
    {
      schema: {
        tags,
        summary: 'Send a webhook.test event',
        params: idParams,
        response: { 202: z.object({ message: z.string(), event_id: z.number().int().describe('The event, as the delivery body carries it') }) },
      },
    },
    async (request, reply) => reply.code(202).send(await sendTestEvent(deps, sellerActor(request), request.params.id)),
  );

  app.get(
    '/api/webhooks/:id/deliveries',
    {
      schema: {
        tags,
        summary: 'Deliveries with their latest attempts',
        description:
          `Newest first. Each delivery carries its latest ${LISTED_ATTEMPTS} attempts (\`attempts\` counts them all), each with at most 2 KB of the receiver's answer, ` +
          `so a page holds at most ${MAX_DELIVERIES_PER_PAGE * LISTED_ATTEMPTS} attempts: per_page above ${MAX_DELIVERIES_PER_PAGE} is lowered to ${MAX_DELIVERIES_PER_PAGE} for every page alike, ` +
          `and the Link header names the per_page used. ?delivery_id= narrows the list to that delivery, with every attempt its log keeps (the latest ${MAX_ATTEMPTS_KEPT}).`,
        params: idParams,
        querystring: z.object({
          ...pageQuery,
          delivery_id: bigId.optional().describe('Only this delivery (the X-Keycord-Delivery its receiver got), with its whole attempt log; an empty list when it is not one of this webhook'),
        }),
        response: { 200: z.array(deliveryView) },
      },
    },
    async (request, reply) => {
      const { page, per_page, delivery_id } = request.query;
      const result = await listDeliveries(deps, sellerActor(request), request.params.id, { page, perPage: per_page }, { deliveryId: delivery_id });
      return sendPage(request, reply, { page, per_page: result.perPage }, result);
    },
  );

  app.post(
    '/api/webhooks/:id/deliveries/:deliveryId/redeliver',
    {
      schema: {
        tags,
        summary: 'Send a delivery again',
        params: z.object({ id, deliveryId: bigId }),
        response: {
          202: z.object({ message: z.string(), delivery: deliveryView }),
          409: errorResponse.describe('The delivery is still pending: being retried on its schedule, or a redelivery not made yet (CONFLICT)'),
        },
      },
    },
    async (request, reply) => reply.code(202).send(await redeliver(deps, sellerActor(request), request.params.id, request.params.deliveryId)),
  );
};
