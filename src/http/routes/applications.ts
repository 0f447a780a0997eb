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
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { idParams } from '../schemas.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';

const tags = ['Applications'];
const name = z.string().trim().min(1).max(100);
const description = z.string().max(1000).nullable();

export const applicationRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get('/api/applications', { schema: { tags, summary: 'Applications you own or collaborate on', querystring: pageOnlyQuery } }, async (request, reply) =>
    sendPage(request, reply, request.query, await listApplications(deps, sellerActor(request), pageRequestOf(request.query))),
  );

  app.post(
    '/api/applications',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Create an application (secret shown once)',
        body: z.object({ name, description: description.optional(), settings: applicationSettingsPatchSchema.optional() }),
      },
    },
    async (request, reply) => reply.code(201).send(await createApplication(deps, sellerActor(request), request.body)),
  );

  app.get('/api/applications/limits', { schema: { tags, summary: 'Your application limits' } }, async (request) =>
    applicationLimits(deps, sellerActor(request)),
  );

  app.get('/api/applications/:id', { schema: { tags, summary: 'Application details', params: idParams } }, async (request) =>
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
      },
    },
    async (request) => updateApplication(deps, sellerActor(request), request.params.id, request.body),
  );

  app.delete('/api/applications/:id', { schema: { tags, summary: 'Delete an application and all it holds', params: idParams } }, async (request) => {
    await deleteApplication(deps, sellerActor(request), request.params.id);
    return { message: 'Application deleted' };
  });

  app.post('/api/applications/:id/rotate-secret', { schema: { tags, summary: 'Replace the client secret (shown once)', params: idParams } }, async (request) =>
    rotateApplicationSecret(deps, sellerActor(request), request.params.id),
  );
};
