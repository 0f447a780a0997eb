import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { createVariable } from '../../core/variables/create-variable.js';
import { deleteVariable } from '../../core/variables/delete-variable.js';
import { getClientVariable } from '../../core/variables/get-client-variable.js';
import { listVariables } from '../../core/variables/list-variables.js';
import { updateVariable } from '../../core/variables/update-variable.js';
import { MAX_VARIABLE_VALUE_BYTES, MAX_VARIABLES_PER_PAGE, VALUE_TEXT_RULE, VARIABLE_NAME, VARIABLE_NAME_RULE, valueFits, valueIsText } from '../../core/variables/variable-rules.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { answerSubjects, bindClientAnswer, clientCredentials, clientProofSubject, nonce, resolveClientApp } from '../client-app.js';
import { pageQuery, sendPage } from '../pagination.js';
import { errorResponse, messageResponse } from '../responses.js';
import { idParams } from '../schemas.js';
import { clientAnswer, clientErrorResponse } from '../views/client-answer.js';
import { clientErrors } from '../views/client-reply.js';
import type { toVariableView } from '../../core/variables/variable-view.js';

const tags = ['Variables'];
const name = z.string().regex(VARIABLE_NAME, VARIABLE_NAME_RULE);
const value = z.string().refine(valueFits, `at most ${MAX_VARIABLE_VALUE_BYTES} bytes (UTF-8)`).refine(valueIsText, VALUE_TEXT_RULE);
const isPublic = z.boolean().describe('true: any client with the app_id may read it; false: a validating license or a user token is needed');

const variableView = z.object({
  id: z.number().int(),
  application_id: z.number().int(),
  name: z.string(),
  value: z.string(),
  public: z.boolean(),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toVariableView>>;

const clientVariableView = clientAnswer({ name: z.string(), value: z.string() });

const sellerVariableRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications/:id/variables',
    {
      schema: {
        tags,
        summary: "An application's variables",
        description: `By name. Values are up to ${MAX_VARIABLE_VALUE_BYTES} bytes each, so a page holds at most ${MAX_VARIABLES_PER_PAGE}: per_page above it is lowered to ${MAX_VARIABLES_PER_PAGE} for every page alike, and the Link header names the per_page used.`,
        params: idParams,
        querystring: z.object(pageQuery),
        response: { 200: z.array(variableView) },
      },
    },
    async (request, reply) => {
      const { page, per_page } = request.query;
      const result = await listVariables(deps, sellerActor(request), request.params.id, { page, perPage: per_page });
      return sendPage(request, reply, { page, per_page: result.perPage }, result);
    },
  );

  app.post(
    '/api/applications/:id/variables',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Add a variable (409 if the name is taken)',
        params: idParams,
        body: z.object({ name, value, public: isPublic.default(false) }),
        response: {
          201: variableView,
          409: errorResponse.describe('The name is taken (CONFLICT), the application has as many variables as it may (LIMIT_REACHED), or an Idempotency-Key reused'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await createVariable(deps, sellerActor(request), request.params.id, request.body)),
  );

  app.put(
    '/api/variables/:id',
    {
      schema: {
        tags,
        summary: 'Change a variable',
        params: idParams,
        body: z.object({ name: name.optional(), value: value.optional(), public: isPublic.optional() }),
        response: { 200: variableView, 409: errorResponse.describe('Another variable of the application has that name (CONFLICT)') },
      },
    },
    async (request) => updateVariable(deps, sellerActor(request), request.params.id, request.body),
  );

  app.delete('/api/variables/:id', { schema: { tags, summary: 'Remove a variable', params: idParams, response: { 200: messageResponse } } }, async (request) =>
    deleteVariable(deps, sellerActor(request), request.params.id),
  );
};

/** Client side: no bearer of a developer; a user token may come as `Authorization: Bearer <jwt>`. */
const clientVariableRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/api/variables/:name',
    {
      // A HEAD would run the license check (and could activate a key) for nothing.
      exposeHeadRoute: false,
      config: { access: 'client', answerSubject: answerSubjects.pathName },
      schema: {
        tags: ['Client'],
        summary: 'Read a variable (signed response); a private one needs license_key + hwid, or a user token',
        params: z.object({ name }),
        querystring: z.object({
          app_id: z.uuid(),
          license_key: z.string().trim().min(1).max(256).optional(),
          hwid: z.string().max(256).optional(),
          nonce: nonce.optional(),
        }),
        response: {
          200: clientVariableView,
          ...clientErrors,
          403: clientErrorResponse.describe('A private variable (or an unknown name) without a license + HWID that validate or a user token (FORBIDDEN)'),
          404: clientErrorResponse.describe('No application with this app_id, or (for a caller who proved a right) no variable of that name'),
        },
      },
    },
    async (request) => {
      // The answer names the proof too: a variable read with another license is not this request's.
      bindClientAnswer(request, request.query.nonce, clientProofSubject(request, request.query));
      const clientApp = await resolveClientApp(deps, request, request.query.app_id);
      return getClientVariable(deps, clientApp, request.params.name, clientCredentials(request, request.query));
    },
  );
};

export const variableRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, opts) => {
  await app.register(sellerVariableRoutes, opts);
  await app.register(clientVariableRoutes, opts);
};
