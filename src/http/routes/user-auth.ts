import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../core/deps.js';
import { PASSWORD_BINDING, passwordBinding } from '../../client/answer-binding.js';
import { unauthorized } from '../../core/errors.js';
import { createUser, getUserProfile, loginUser, tokenApplicationId, updateUserLicense, validateUserLicense } from '../../core/users/user-auth.js';
import { bearerToken } from '../authenticate.js';
import { answerSubjects, bindClientAnswer, nonce, resolveClientApp } from '../client-app.js';
import { requireSealedRequest } from '../client-guard.js';
import { appUserView } from '../views/app-user.js';
import { blacklistedAnswer } from '../views/blacklisted.js';
import { clientAnswer, clientErrorResponse } from '../views/client-answer.js';
import { clientErrors, plainOrEncrypted, unknownApplication } from '../views/client-reply.js';
import { licenseStatus, planRef } from '../views/license.js';

const tags = ['User authentication'];
const appId = z.uuid();
const hwid = z.string().trim().min(1).max(256);
const licenseKey = z.string().trim().min(1).max(256);
const username = z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/, '3–32 of letters, digits, _, . and -');
const password = z.string().min(8).max(256);
const clientNonce = nonce.optional();

const clientApp = resolveClientApp;

const token = z.string().describe('A user token (JWT, HS256): Authorization: Bearer <token> on user routes');
const withToken = { message: z.string(), token };
const withUser = { ...withToken, user: appUserView };
/** `password_hmac` (answer-binding.ts): binds a new account's session to the password it was made with. */
const passwordDigest = z.string().describe('Hex HMAC-SHA256 of the password as received, keyed by the user name: the session is for this password (the SDK checks it)');

/** A failed license check: the code is validate's (EXPIRED, BANNED, HWID_MISMATCH, …). */
const licenseRefused = clientErrorResponse.describe("The license does not validate: code is validate's (NOT_FOUND, EXPIRED, BANNED, HWID_REQUIRED, HWID_MISMATCH, APP_PAUSED)");

const profile = z.object({
  user: z.object({
    id: z.number().int(),
    username: z.string(),
    hwid: z.string().nullable(),
    created_at: z.string().describe('ISO 8601'),
    last_login: z.string().nullable().describe('ISO 8601'),
  }),
  license: z
    .object({
      license_key: z.string(),
      status: licenseStatus,
      plan: planRef.nullable(),
      activated_at: z.string().nullable().describe('ISO 8601'),
      expires_at: z.string().nullable().describe('ISO 8601'),
    })
    .nullable()
    .describe('null once the license is deleted'),
});
profile satisfies z.ZodType<Awaited<ReturnType<typeof getUserProfile>>>;

/** End users of an application; every answer is signed with the application's key. */
export const userAuthRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/api/user-auth/create',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('username', 'license_key', 'hwid'), limit: 'login' },
      schema: {
        tags,
        summary: 'Register a user with a license',
        body: z.object({ app_id: appId, license_key: licenseKey, username, password, hwid, nonce: clientNonce }),
        response: {
          200: plainOrEncrypted(blacklistedAnswer),
          201: plainOrEncrypted(clientAnswer({ ...withUser, [PASSWORD_BINDING]: passwordDigest })),
          ...clientErrors,
          403: licenseRefused,
          404: unknownApplication,
          409: clientErrorResponse.describe('The license already has a user (LICENSE_IN_USE), or the username is taken (USERNAME_TAKEN)'),
        },
      },
    },
    async (request, reply) => {
      const { body } = request;
      bindClientAnswer(request, body.nonce);
      const a = await clientApp(deps, request, request.body.app_id);
      const created = await createUser(deps, a, { ...request.body, ip: request.ip });
      // The session names the password it was made with (its digest, never logged): one whose
      // password was swapped on the way is refused by the SDK.
      return 'code' in created ? created : reply.code(201).send({ ...created, [PASSWORD_BINDING]: passwordBinding(body.username, body.password) });
    },
  );

  app.post(
    '/api/user-auth/login',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('username', 'hwid'), limit: 'login' },
      schema: {
        tags,
        summary: 'Log in with username, password and HWID',
        body: z.object({ app_id: appId, username: z.string().min(1).max(64), password: z.string().min(1).max(256), hwid, nonce: clientNonce }),
        response: {
          200: plainOrEncrypted(z.union([clientAnswer(withUser), blacklistedAnswer])),
          ...clientErrors,
          401: clientErrorResponse.describe('Invalid username or password (UNAUTHORIZED)'),
          403: licenseRefused,
          404: unknownApplication,
        },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      return loginUser(deps, await clientApp(deps, request, request.body.app_id), { ...request.body, ip: request.ip });
    },
  );

  app.post(
    '/api/user-auth/validate-license',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('license_key', 'hwid') },
      schema: {
        tags,
        summary: "Validate a user's license and get their token",
        body: z.object({ app_id: appId, license_key: licenseKey, hwid, nonce: clientNonce }),
        response: {
          200: plainOrEncrypted(z.union([clientAnswer(withToken), blacklistedAnswer])),
          ...clientErrors,
          403: licenseRefused,
          404: clientErrorResponse.describe('No application has this app_id, or no user is registered with this license (NOT_FOUND)'),
        },
      },
    },
    async (request) => {
      bindClientAnswer(request, request.body.nonce);
      return validateUserLicense(deps, await clientApp(deps, request, request.body.app_id), { ...request.body, ip: request.ip });
    },
  );

  app.post(
    '/api/user-auth/update-license',
    {
      config: { access: 'client', answerSubject: answerSubjects.fields('old_license_key', 'new_license_key', 'hwid') },
      schema: {
        tags,
        summary: 'Move a user to a new, unused license (the old one ends at once)',
        body: z.object({ app_id: appId, old_license_key: licenseKey, new_license_key: licenseKey, hwid, nonce: clientNonce }),
        response: {
          200: plainOrEncrypted(z.union([clientAnswer(withUser), blacklistedAnswer])),
          ...clientErrors,
          403: clientErrorResponse.describe("The user is bound to another device (HWID_MISMATCH), the new key does not exist (NOT_FOUND), or it does not validate (validate's codes)"),
          404: clientErrorResponse.describe('No application has this app_id, or no user is registered with the old license (NOT_FOUND)'),
          409: clientErrorResponse.describe('The new license has already been used (LICENSE_IN_USE)'),
        },
      },
    },
    async (request) => {
      const { body } = request;
      bindClientAnswer(request, body.nonce);
      return updateUserLicense(deps, await clientApp(deps, request, request.body.app_id), { ...request.body, ip: request.ip });
    },
  );

  app.get(
    '/api/user-auth/me',
    {
      config: { access: 'client', answerSubject: answerSubjects.userToken },
      schema: {
        tags,
        summary: 'The user of a token, with their license (Authorization: Bearer <user token>)',
        querystring: z.object({
          app_id: appId.optional().describe("The application, as on every client route (the SDK sends it): the token must be one of its users'; it lets an encrypted request be opened"),
          nonce: clientNonce,
        }),
        response: {
          200: plainOrEncrypted(clientAnswer(profile.shape)),
          ...clientErrors,
          401: clientErrorResponse.describe('No user token, or it is invalid or expired, or its user no longer exists (UNAUTHORIZED)'),
          404: clientErrorResponse.describe('An encrypted request whose app_id names no application'),
        },
      },
    },
    async (request) => {
      const token = bearerToken(request);
      bindClientAnswer(request, request.query.nonce);
      const id = token ? tokenApplicationId(token) : null;
      if (!token || !id) throw unauthorized('A user token is required');
      const a = await deps.apps.get(id);
      if (!a) throw unauthorized('The user token is invalid or expired');
      // A token of another application than the one the request names is no token of that one.
      if (request.query.app_id !== undefined && request.query.app_id.toLowerCase() !== a.appId) throw unauthorized('The user token is invalid or expired');
      request.clientApp = a;
      // The guard holds a request naming its application to `require_encryption`; one that names
      // it only through the token is held to it here, or the profile (the license key with it)
      // would go back in clear.
      requireSealedRequest(request, a);
      return getUserProfile(deps, a, token);
    },
  );
};
