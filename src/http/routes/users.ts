import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { deleteUser, getUser, listUsers, resetUserPassword, type SellerUserView } from '../../core/users/manage-users.js';
import { requireDeveloper, sellerActor } from '../authenticate.js';
import { pageQuery, pageRequestOf, sendPage } from '../pagination.js';
import { messageResponse } from '../responses.js';
import { idParams } from '../schemas.js';
import { licenseStatus } from '../views/license.js';

const tags = ['Users'];

/** An end user as a seller sees it (never its password hash). */
const sellerUserView = z.object({
  id: z.number().int(),
  application_id: z.number().int(),
  username: z.string(),
  hwid: z.string().nullable(),
  license_id: z.number().int().nullable().describe('null once the license is deleted'),
  license: z
    .object({ id: z.number().int(), license_key: z.string(), status: licenseStatus, expires_at: z.string().nullable().describe('ISO 8601') })
    .nullable()
    .describe('The license the user signed up with (or moved to), null once deleted'),
  created_at: z.string().describe('ISO 8601'),
  last_login: z.string().nullable().describe('ISO 8601'),
}) satisfies z.ZodType<SellerUserView>;

/** Seller side of the user-auth API's accounts: viewers read, managers delete and reset passwords. */
export const userRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireDeveloper(deps));

  app.get(
    '/api/applications/:id/users',
    {
      schema: {
        tags,
        summary: "An application's users, oldest first",
        params: idParams,
        querystring: z.object({ ...pageQuery, search: z.string().max(64).optional().describe('Part of the username (case-insensitive)') }),
        response: { 200: z.array(sellerUserView) },
      },
    },
    async (request, reply) => {
      const { search } = request.query;
      const result = await listUsers(deps, sellerActor(request), request.params.id, { ...pageRequestOf(request.query), search: search || undefined });
      return sendPage(request, reply, request.query, result);
    },
  );

  app.get('/api/users/:id', { schema: { tags, summary: 'One user', params: idParams, response: { 200: sellerUserView } } }, async (request) => getUser(deps, sellerActor(request), request.params.id));

  app.delete('/api/users/:id', { schema: { tags, summary: 'Delete a user (its license stays)', params: idParams, response: { 200: messageResponse } } }, async (request) =>
    deleteUser(deps, sellerActor(request), request.params.id),
  );

  app.post(
    '/api/users/:id/reset-password',
    {
      schema: {
        tags,
        summary: 'Give the user a new random password, shown once',
        params: idParams,
        response: {
          200: z.object({
            user: z.object({ id: z.number().int(), username: z.string() }),
            password: z.string().describe('The new password, shown only in this answer (stored hashed)'),
          }),
        },
      },
    },
    async (request) => resetUserPassword(deps, sellerActor(request), request.params.id),
  );
};
