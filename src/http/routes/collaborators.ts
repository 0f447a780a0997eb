import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { addCollaborator, listCollaborators, removeCollaborator, updateCollaborator } from '../../core/collaborators/manage-collaborators.js';
import type { Deps } from '../../core/deps.js';
import { unlinkGuild } from '../../core/discord/unlink-guild.js';
import { errorResponse, messageResponse } from '../responses.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { id, idParams } from '../schemas.js';
import { pageOnlyQuery, pageRequestOf, sendPage } from '../pagination.js';

const tags = ['Collaborators'];
const role = z.enum(['admin', 'manager', 'viewer']);
const memberParams = z.object({ id, developerId: id });
const guildParams = z.object({
  id,
  guildId: z
    .string()
    .regex(/^\d{17,20}$/, 'a Discord snowflake')
    .describe('The Discord server (guild) id'),
});

const collaboratorView = z.object({
  developer_id: z.number().int(),
  username: z.string(),
  role: z.string().describe('owner, admin, manager or viewer'),
  created_at: z.string().describe('ISO 8601: when they joined'),
}) satisfies z.ZodType<Awaited<ReturnType<typeof addCollaborator>>>;

export const collaboratorRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications/:id/collaborators',
    { schema: { tags, summary: 'Who works on the application', params: idParams, querystring: pageOnlyQuery, response: { 200: z.array(collaboratorView) } } },
    async (request, reply) => sendPage(request, reply, request.query, await listCollaborators(deps, sellerActor(request), request.params.id, pageRequestOf(request.query))),
  );

  app.post(
    '/api/applications/:id/collaborators',
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: 'Add a collaborator by email or username',
        params: idParams,
        body: z.object({ login: z.string().trim().min(1).max(254), role }),
        response: {
          201: collaboratorView,
          404: errorResponse.describe('No such application (or not yours), or no developer with that email or username'),
          409: errorResponse.describe('The developer is already part of the application, or an Idempotency-Key reused with another body or still in progress'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await addCollaborator(deps, sellerActor(request), request.params.id, request.body)),
  );

  app.put(
    '/api/applications/:id/collaborators/:developerId',
    {
      schema: {
        tags,
        summary: "Change a collaborator's role",
        params: memberParams,
        body: z.object({ role }),
        response: { 200: collaboratorView, 403: errorResponse.describe("Your role may not do this, or the owner's role cannot be changed") },
      },
    },
    async (request) => updateCollaborator(deps, sellerActor(request), request.params.id, request.params.developerId, request.body.role),
  );

  app.delete(
    '/api/applications/:id/collaborators/:developerId',
    {
      schema: {
        tags,
        summary: 'Remove a collaborator (or leave)',
        params: memberParams,
        response: { 200: messageResponse, 403: errorResponse.describe('Your role may not do this, or the owner cannot be removed') },
      },
    },
    async (request) => removeCollaborator(deps, sellerActor(request), request.params.id, request.params.developerId),
  );

  // The servers a developer linked are unlinked when they lose the admin role; this unlinks one
  // whoever linked it (its id is the target of the `discord.linked` audit entry).
  app.delete(
    '/api/applications/:id/discord-guilds/:guildId',
    {
      schema: {
        tags,
        summary: 'Unlink a Discord server from the application',
        params: guildParams,
        response: {
          200: messageResponse,
          403: errorResponse.describe('Your role may not do this (the owner and admins may)'),
          404: errorResponse.describe('No such application (or not yours), or no server with that id linked to it'),
        },
      },
    },
    async (request) => unlinkGuild(deps, sellerActor(request), request.params.id, request.params.guildId),
  );
};
