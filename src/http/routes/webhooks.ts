import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EVENT_TYPES } from '../../core/events/emit-event.js';
import {
  createWebhook,
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
  sendTestEvent,
  updateWebhook,
} from '../../core/webhooks/manage-webhooks.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { pageQuery, sendPage } from '../pagination.js';
import { id, idParams } from '../schemas.js';

const tags = ['Webhooks'];
const fields = z.object({
  url: z.string().max(2048),
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length),
  active: z.boolean().optional(),
});

export const webhookRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get('/api/applications/:id/webhooks', { schema: { tags, summary: "An application's webhooks", params: idParams } }, async (request) =>
    listWebhooks(deps, sellerActor(request), request.params.id),
  );

  app.post(
    '/api/applications/:id/webhooks',
    { config: { idempotent: true }, schema: { tags, summary: 'Add a webhook (secret shown once)', params: idParams, body: fields } },
    async (request, reply) => reply.code(201).send(await createWebhook(deps, sellerActor(request), request.params.id, request.body)),
  );

  app.put('/api/webhooks/:id', { schema: { tags, summary: 'Change a webhook', params: idParams, body: fields.partial() } }, async (request) =>
    updateWebhook(deps, sellerActor(request), request.params.id, request.body),
  );

  app.delete('/api/webhooks/:id', { schema: { tags, summary: 'Remove a webhook', params: idParams } }, async (request) =>
    deleteWebhook(deps, sellerActor(request), request.params.id),
  );

  app.post('/api/webhooks/:id/test', { schema: { tags, summary: 'Send a webhook.test event', params: idParams } }, async (request, reply) =>
    reply.code(202).send(await sendTestEvent(deps, sellerActor(request), request.params.id)),
  );

  app.get(
    '/api/webhooks/:id/deliveries',
    { schema: { tags, summary: 'Deliveries with each attempt', params: idParams, querystring: z.object(pageQuery) } },
    async (request, reply) => {
      const { page, per_page } = request.query;
      const result = await listDeliveries(deps, sellerActor(request), request.params.id, { page, perPage: per_page });
      return sendPage(request, reply, { page, per_page }, result);
    },
  );

  app.post(
    '/api/webhooks/:id/deliveries/:deliveryId/redeliver',
    { schema: { tags, summary: 'Send a delivery again', params: z.object({ id, deliveryId: id }) } },
    async (request, reply) => reply.code(202).send(await redeliver(deps, sellerActor(request), request.params.id, request.params.deliveryId)),
  );
};
