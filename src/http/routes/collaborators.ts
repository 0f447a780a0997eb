import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { addCollaborator, listCollaborators, removeCollaborator, updateCollaborator } from '../../core/collaborators/manage-collaborators.js';
import type { Deps } from '../../core/deps.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { id, idParams } from '../schemas.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';

const tags = ['Collaborators'];
const role = z.enum(['admin', 'manager', 'viewer']);
const memberParams = z.object({ id, developerId: id });

export const collaboratorRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications/:id/collaborators',
    { schema: { tags, summary: 'Who works on the application', params: idParams, querystring: pageOnlyQuery } },
    async (request, reply) => sendPage(request, reply, request.query, await listCollaborators(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.post(
    '/api/applications/:id/collaborators',
    { config: { idempotent: true }, schema: { tags, summary: 'Add a collaborator by email or username', params: idParams, body: z.object({ login: z.string().trim().min(1).max(254), role }) } },
    async (request, reply) => reply.code(201).send(await addCollaborator(deps, sellerActor(request), request.params.id, request.body)),
  );

  app.put(
    '/api/applications/:id/collaborators/:developerId',
    { schema: { tags, summary: "Change a collaborator's role", params: memberParams, body: z.object({ role }) } },
    async (request) => updateCollaborator(deps, sellerActor(request), request.params.id, request.params.developerId, request.body.role),
  );

  app.delete('/api/applications/:id/collaborators/:developerId', { schema: { tags, summary: 'Remove a collaborator (or leave)', params: memberParams } }, async (request) =>
    removeCollaborator(deps, sellerActor(request), request.params.id, request.params.developerId),
  );
};
