import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createApiKey, deleteApiKey, listApiKeys } from '../../core/developers/api-keys.js';
import { getDeveloperProfile } from '../../core/developers/get-developer-profile.js';
import { loginDeveloper } from '../../core/developers/login-developer.js';
import { registerDeveloper } from '../../core/developers/register-developer.js';
import type { toDeveloperView } from '../../core/developers/developer-view.js';
import type { Deps } from '../../core/deps.js';
import { errorResponse, messageResponse } from '../responses.js';
import { applicationLimitsView } from '../views/application.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { idParams } from '../schemas.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';

const tags = ['Auth'];

const developerView = z.object({
  id: z.number().int(),
  email: z.string(),
  username: z.string(),
  created_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toDeveloperView>>;

const session = {
  token: z.string().describe('A session token (kc_sess_…): send it as `Authorization: Bearer <token>`'),
  expires_at: z.string().describe('ISO 8601'),
  developer: developerView,
};

const apiKeyView = z.object({
  id: z.number().int(),
  name: z.string().nullable(),
  hint: z.string().describe('The first characters of the key, to tell keys apart'),
  created_at: z.string().describe('ISO 8601'),
  last_used_at: z.string().nullable().describe('ISO 8601'),
}) satisfies z.ZodType<Awaited<ReturnType<typeof listApiKeys>>['items'][number]>;

const newApiKeyView = apiKeyView.extend({
  key: z.string().describe('The API key (kc_live_…), shown only here'),
}) satisfies z.ZodType<Awaited<ReturnType<typeof createApiKey>>>;

export const authRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/auth/register',
    {
      config: { access: 'public', limit: 'login' },
      schema: {
        tags,
        summary: 'Create a developer account',
        body: z.object({
          email: z.email().max(254),
          username: z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/, '3–32 of letters, digits, _, . and -'),
          password: z.string().min(10).max(256),
        }),
        response: {
          201: z.object(session) satisfies z.ZodType<Awaited<ReturnType<typeof registerDeveloper>>>,
          409: errorResponse.describe('The email or username is already registered (CONFLICT)'),
        },
      },
    },
    async (request, reply) => {
      const result = await registerDeveloper(deps, { ...request.body, ip: request.ip });
      return reply.code(201).send({ developer: result.developer, token: result.token, expires_at: result.expires_at });
    },
  );

  app.post(
    '/api/auth/login',
    {
      config: { access: 'public', limit: 'login' },
      schema: {
        tags,
        summary: 'Log in with email or username',
        body: z.object({ login: z.string().min(1).max(254), password: z.string().min(1).max(256) }),
        response: {
          200: z.object(session) satisfies z.ZodType<Awaited<ReturnType<typeof loginDeveloper>>>,
          401: errorResponse.describe('Invalid login or password (UNAUTHORIZED)'),
        },
      },
    },
    async (request) => loginDeveloper(deps, { ...request.body, ip: request.ip }),
  );

  await app.register(async (scope) => {
    const authed = scope.withTypeProvider<ZodTypeProvider>();
    authed.addHook('onRequest', requireDeveloper(deps));

    authed.get(
      '/api/auth/me',
      {
        schema: {
          tags,
          summary: 'The caller and their limits',
          response: { 200: z.object({ developer: developerView, limits: applicationLimitsView }) satisfies z.ZodType<Awaited<ReturnType<typeof getDeveloperProfile>>> },
        },
      },
      async (request) => getDeveloperProfile(deps, sellerActor(request)),
    );

    authed.post(
      '/api/auth/api-keys',
      {
        config: { idempotent: true },
        schema: {
          tags,
          summary: 'Create an API key (shown once)',
          body: z.object({ name: z.string().trim().min(1).max(100) }),
          response: {
            201: newApiKeyView,
            409: errorResponse.describe('At most 100 API keys (LIMIT_REACHED), or an Idempotency-Key reused with another body or still in progress'),
          },
        },
      },
      async (request, reply) => reply.code(201).send(await createApiKey(deps, sellerActor(request), request.body)),
    );

    authed.get('/api/auth/api-keys', { schema: { tags, summary: 'List API keys', querystring: pageOnlyQuery, response: { 200: z.array(apiKeyView) } } }, async (request, reply) =>
      sendPage(request, reply, request.query, await listApiKeys(deps, sellerActor(request), pageRequestOf(request.query))),
    );

    authed.delete('/api/auth/api-keys/:id', { schema: { tags, summary: 'Revoke an API key', params: idParams, response: { 200: messageResponse } } }, async (request) => {
      await deleteApiKey(deps, sellerActor(request), request.params.id);
      return { message: 'API key deleted' };
    });
  });
};
