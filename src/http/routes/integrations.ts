import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import {
  createIntegration,
  deleteIntegration,
  getIntegration,
  listIntegrationOrders,
  listIntegrations,
  updateIntegration,
  type toIntegrationView,
} from '../../core/integrations/manage-integrations.js';
import { receiveStoreCall } from '../../core/integrations/receive-store-call.js';
import { STORE_PROVIDERS } from '../../core/integrations/store-provider.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { errorResponse, messageResponse } from '../responses.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';
import { bodyId, id, idParams } from '../schemas.js';

const tags = ['Store integrations'];

const product = z.object({
  product_id: z.string().trim().min(1).max(200).describe("The store's product id (Sellix uniqid, SellAuth product id, Stripe metadata.product_id or Payment Link id)"),
  plan_id: bodyId,
  quantity_per_unit: z.number().int().min(1).max(1000).optional().describe('Keys per unit bought (default 1)'),
});
const fields = z.object({
  provider: z.enum(STORE_PROVIDERS),
  secret: z.string().min(8).max(500).describe("The store's webhook signing secret (Stripe: whsec_…); stored encrypted, never shown again"),
  products: z.array(product).min(1).max(100),
});

const integrationFields = {
  id: z.number().int(),
  application_id: z.number().int(),
  provider: z.enum(STORE_PROVIDERS),
  path: z.string(),
  products: z.array(z.object({ product_id: z.string(), plan_id: z.number().int(), quantity_per_unit: z.number().int() })),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
};
const integrationView = z.object({ ...integrationFields, url: z.string().describe('The address to paste into the store') });
// The core's view, before the route adds the absolute url.
z.object(integrationFields) satisfies z.ZodType<ReturnType<typeof toIntegrationView>>;

const orderView = z.object({
  order_id: z.string(),
  line_id: z.string(),
  status: z.enum(['fulfilled', 'refunded']),
  plan_id: z.number().int().nullable(),
  discord_user_id: z.string().nullable(),
  licenses: z.array(z.object({ id: z.number().int(), license_key: z.string() })),
  created_at: z.string().describe('ISO 8601'),
});

interface IntegrationRouteOptions {
  deps: Deps;
  /** PUBLIC_URL: where stores reach this instance. */
  publicUrl?: string | undefined;
}

/**
 * Where stores reach this instance: PUBLIC_URL when the operator set it, else as the caller reached
 * it (behind a proxy, trustProxy decides). The Host header is the caller's to choose, so a set
 * PUBLIC_URL wins: the address a seller pastes into a store is then the operator's, always.
 */
const originOf = (request: FastifyRequest, publicUrl: string | undefined) => publicUrl ?? `${request.protocol}://${request.host}`;
const urlAdder =
  (publicUrl: string | undefined) =>
  <T extends { path: string }>(request: FastifyRequest, view: T) => ({ ...view, url: `${originOf(request, publicUrl)}${view.path}` });

/** The seller's side: manager and above change integrations, viewers read them. */
const sellerRoutes: FastifyPluginAsyncZod<IntegrationRouteOptions> = async (app, { deps, publicUrl }) => {
  const withUrl = urlAdder(publicUrl);
  app.addHook('onRequest', requireDeveloper(deps));

  app.post(
    '/api/applications/:id/integrations',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Connect a store (Sellix, SellAuth, Stripe)',
        params: idParams,
        body: fields,
        response: {
          201: z.object({ id: z.number().int(), provider: z.enum(STORE_PROVIDERS), url: z.string() }),
          404: errorResponse.describe('No such application'),
          409: errorResponse.describe('The application has its maximum of integrations (LIMIT_REACHED), or an Idempotency-Key reused'),
        },
      },
    },
    async (request, reply) => {
      const made = await createIntegration(deps, sellerActor(request), request.params.id, request.body);
      return reply.code(201).send({ id: made.id, provider: made.provider, url: withUrl(request, made).url });
    },
  );

  app.get(
    '/api/applications/:id/integrations',
    { schema: { tags, summary: "An application's store integrations", params: idParams, querystring: pageOnlyQuery, response: { 200: z.array(integrationView), 404: errorResponse } } },
    async (request, reply) => {
      const page = await listIntegrations(deps, sellerActor(request), request.params.id, pageRequestOf(request.query));
      return sendPage(request, reply, request.query, { total: page.total, items: page.items.map((v) => withUrl(request, v)) });
    },
  );

  app.get('/api/integrations/:id', { schema: { tags, summary: 'A store integration', params: idParams, response: { 200: integrationView, 404: errorResponse } } }, async (request) =>
    withUrl(request, await getIntegration(deps, sellerActor(request), request.params.id)),
  );

  app.put(
    '/api/integrations/:id',
    {
      schema: {
        tags,
        summary: "Change a store integration's products or secret",
        params: idParams,
        body: fields.omit({ provider: true }).partial(),
        response: { 200: integrationView, 404: errorResponse },
      },
    },
    async (request) => withUrl(request, await updateIntegration(deps, sellerActor(request), request.params.id, request.body)),
  );

  app.delete('/api/integrations/:id', { schema: { tags, summary: 'Disconnect a store', params: idParams, response: { 200: messageResponse, 404: errorResponse } } }, async (request) =>
    deleteIntegration(deps, sellerActor(request), request.params.id),
  );

  app.get(
    '/api/integrations/:id/orders',
    {
      schema: {
        tags,
        summary: 'Orders the store sent, with their keys',
        description: 'A page carries at most 10,000 keys: when the largest order would take a page past that, per_page is lowered for every page alike, and the Link header names the per_page used.',
        params: idParams,
        querystring: pageOnlyQuery,
        response: { 200: z.array(orderView), 404: errorResponse },
      },
    },
    async (request, reply) => {
      const page = await listIntegrationOrders(deps, sellerActor(request), request.params.id, pageRequestOf(request.query));
      return sendPage(request, reply, { page: request.query.page, per_page: page.perPage }, page);
    },
  );
};

/**
 * The store's side: public, its body kept raw in this scope (the signature covers the bytes) and
 * parsed by the provider only once it verifies.
 */
const storeRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_req, body, done) => done(null, body));
  app.post(
    '/api/integrations/:id/:provider',
    {
      config: { access: 'public' },
      schema: {
        tags,
        summary: "The store's webhook / dynamic delivery (signed by the store)",
        description: 'Sellix and SellAuth: 200 text/plain with the keys, one per line (what the buyer receives). Stripe, refunds and ignored events: 200 {received: true}.',
        params: z.object({ id, provider: z.enum(STORE_PROVIDERS) }),
        response: {
          200: z.union([z.object({ received: z.literal(true) }), z.string().describe('The keys, one per line (text/plain)')]),
          401: errorResponse.describe('Bad or missing store signature: nothing issued'),
          404: errorResponse.describe('No such integration for this provider'),
          409: errorResponse.describe('The mapped plan is gone (PLAN_GONE), or the order was refunded or disputed before this line was fulfilled (ORDER_REFUNDED)'),
        },
      },
    },
    async (request, reply) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const answer = await receiveStoreCall(deps, request.params.id, request.params.provider, { rawBody, headers: request.headers });
      if (answer.contentType === 'text/plain')
        return reply
          .code(200)
          .type('text/plain; charset=utf-8')
          .send(answer.body as string);
      return reply.code(200).send(answer.body as { received: true });
    },
  );
};

export const integrationRoutes: FastifyPluginAsyncZod<IntegrationRouteOptions> = async (app, { deps, publicUrl }) => {
  await app.register(sellerRoutes, { deps, publicUrl });
  await app.register(storeRoutes, { deps });
};
