import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { applicationLimits } from '../../core/applications/application-limits.js';
import { applicationSettingsPatchSchema } from '../../core/applications/application-settings.js';
import { createApplication } from '../../core/applications/create-application.js';
import { deleteApplication } from '../../core/applications/delete-application.js';
import { getApplication } from '../../core/applications/get-application.js';
import { listApplications } from '../../core/applications/list-applications.js';
import { rotateApplicationSecret } from '../../core/applications/rotate-application-secret.js';
import { updateApplication } from '../../core/applications/update-application.js';
import type { Deps } from '../../core/deps.js';
import { errorResponse, messageResponse } from '../responses.js';
import { applicationLimitsView, applicationView, applicationWithSecretView } from '../views/application.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { idParams } from '../schemas.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';

const tags = ['Applications'];
const name = z.string().trim().min(1).max(100);
const description = z.string().max(1000).nullable();

/** The core's view has `secret` on the answers that show it once; this says so to the type of those answers. */
function withSecret<T extends { secret?: string | undefined }>(view: T): T & { secret: string } {
  if (view.secret === undefined) throw new Error('an answer that shows the secret was built without it');
  return view as T & { secret: string };
}

export const applicationRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications',
    { schema: { tags, summary: 'Applications you own or collaborate on', querystring: pageOnlyQuery, response: { 200: z.array(applicationView) } } },
    async (request, reply) => sendPage(request, reply, request.query, await listApplications(deps, sellerActor(request), pageRequestOf(request.query))),
  );

  app.post(
    '/api/applications',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Create an application (secret shown once)',
        body: z.object({ name, description: description.optional(), settings: applicationSettingsPatchSchema.optional() }),
        response: {
          201: applicationWithSecretView,
          409: errorResponse.describe('You own as many applications as you may (LIMIT_REACHED), or an Idempotency-Key reused with another body or still in progress'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(withSecret(await createApplication(deps, sellerActor(request), request.body))),
  );

  app.get('/api/applications/limits', { schema: { tags, summary: 'Your application limits', response: { 200: applicationLimitsView } } }, async (request) =>
    applicationLimits(deps, sellerActor(request)),
  );

  app.get('/api/applications/:id', { schema: { tags, summary: 'Application details', params: idParams, response: { 200: applicationView } } }, async (request) =>
    getApplication(deps, sellerActor(request), request.params.id),
  );

  app.put(
    '/api/applications/:id',
    {
      schema: {
        tags,
        summary: 'Update name, description or settings',
        params: idParams,
        body: z.object({ name: name.optional(), description: description.optional(), settings: applicationSettingsPatchSchema.optional() }),
        response: { 200: applicationView },
      },
    },
    async (request) => updateApplication(deps, sellerActor(request), request.params.id, request.body),
  );

  app.delete(
    '/api/applications/:id',
    { schema: { tags, summary: 'Delete an application and all it holds (its owner only)', params: idParams, response: { 200: messageResponse } } },
    async (request) => {
      await deleteApplication(deps, sellerActor(request), request.params.id);
      return { message: 'Application deleted' };
    },
  );

  app.post(
    '/api/applications/:id/rotate-secret',
    { schema: { tags, summary: 'Replace the client secret (shown once)', params: idParams, response: { 200: applicationWithSecretView } } },
    async (request) => withSecret(await rotateApplicationSecret(deps, sellerActor(request), request.params.id)),
  );
};
