import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { unauthorized } from '../../core/errors.js';
import { createUser, getUserProfile, loginUser, tokenApplicationId, updateUserLicense, validateUserLicense } from '../../core/users/user-auth.js';
import { bearerToken } from '../authenticate.js';
import { bindClientAnswer, nonce, resolveClientApp } from '../client-app.js';

const tags = ['User authentication'];
const appId = z.uuid();
const hwid = z.string().trim().min(1).max(256);
const licenseKey = z.string().trim().min(1).max(256);
const username = z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/, '3–32 of letters, digits, _, . and -');
const password = z.string().min(8).max(256);
const clientNonce = nonce.optional();

const clientApp = resolveClientApp;

/** End users of an application; every answer is signed with the application's key. */
export const userAuthRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/user-auth/create',
    { config: { access: 'client', limit: 'login' }, schema: { tags, summary: 'Register a user with a license', body: z.object({ app_id: appId, license_key: licenseKey, username, password, hwid, nonce: clientNonce }) } },
    async (request, reply) => {
      const { body } = request;
      bindClientAnswer(request, body.nonce, { username: body.username, license_key: body.license_key, hwid: body.hwid });
      const a = await clientApp(deps, request, request.body.app_id);
      return reply.code(201).send(await createUser(deps, a, { ...request.body, ip: request.ip }));
    },
  );

  app.post(
    '/api/user-auth/login',
    { config: { access: 'client', limit: 'login' }, schema: { tags, summary: 'Log in with username, password and HWID', body: z.object({ app_id: appId, username: z.string().min(1).max(64), password: z.string().min(1).max(256), hwid, nonce: clientNonce }) } },
    async (request) => {
      bindClientAnswer(request, request.body.nonce, { username: request.body.username, hwid: request.body.hwid });
      return loginUser(deps, await clientApp(deps, request, request.body.app_id), { ...request.body, ip: request.ip });
    },
  );

  app.post(
    '/api/user-auth/validate-license',
    { config: { access: 'client' }, schema: { tags, summary: "Validate a user's license and get their token", body: z.object({ app_id: appId, license_key: licenseKey, hwid, nonce: clientNonce }) } },
    async (request) => {
      bindClientAnswer(request, request.body.nonce, { license_key: request.body.license_key, hwid: request.body.hwid });
      return validateUserLicense(deps, await clientApp(deps, request, request.body.app_id), { ...request.body, ip: request.ip });
    },
  );

  app.post(
    '/api/user-auth/update-license',
    { config: { access: 'client' }, schema: { tags, summary: 'Move a user to a new, unused license', body: z.object({ app_id: appId, old_license_key: licenseKey, new_license_key: licenseKey, hwid, nonce: clientNonce }) } },
    async (request) => {
      const { body } = request;
      bindClientAnswer(request, body.nonce, { old_license_key: body.old_license_key, new_license_key: body.new_license_key, hwid: body.hwid });
      return updateUserLicense(deps, await clientApp(deps, request, request.body.app_id), { ...request.body, ip: request.ip });
    },
  );

  app.get('/api/user-auth/me', { config: { access: 'client' }, schema: { tags, summary: 'The user of a token, with their license', querystring: z.object({ nonce: clientNonce }) } }, async (request) => {
    const token = bearerToken(request);
    bindClientAnswer(request, request.query.nonce, { user_token: token ?? undefined });
    const id = token ? tokenApplicationId(token) : null;
    if (!token || !id) throw unauthorized('A user token is required');
    const a = await deps.apps.get(id);
    if (!a) throw unauthorized('The user token is invalid or expired');
    request.clientApp = a;
    return getUserProfile(deps, a, token);
  });
};
