import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NONCE_PATTERN, requestIdentity, type RequestIdentity, type RequestSubject } from '../client/answer-binding.js';
import type { ClientApplication } from '../core/applications/application-cache.js';
import type { Deps } from '../core/deps.js';
import { notFound } from '../core/errors.js';
import type { ClientCredentials } from '../core/users/client-credentials.js';
import { bearerToken } from './authenticate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a client route once its input is parsed: what its answer must echo (see client-signing). */
    answerBinding: AnswerBinding | null;
  }
}

export interface AnswerBinding {
  nonce: string | undefined;
  request: RequestIdentity;
}

/** The application a client request names by `app_id`, or 404 for an unknown one. */
export async function loadClientApp(deps: Deps, appId: string): Promise<ClientApplication> {
  const app = await deps.apps.get(appId);
  if (!app) throw notFound('Application');
  return app;
}

/**
 * As `loadClientApp`, and marks the request as a client request of that application, so
 * whatever it answers from here on (errors included) is signed by the client-signing hook.
 */
export async function resolveClientApp(deps: Deps, request: FastifyRequest, appId: string): Promise<ClientApplication> {
  // The client guard has usually found it already.
  const known = request.clientApp;
  if (known && known.appId === appId.toLowerCase()) return known;
  const app = await loadClientApp(deps, appId);
  request.clientApp = app;
  return app;
}

/** What a client sent to unlock a private resource: `license_key` + `hwid`, or a user token as bearer. */
export function clientCredentials(request: FastifyRequest, query: { license_key?: string | undefined; hwid?: string | undefined }): ClientCredentials {
  return { licenseKey: query.license_key, hwid: query.hwid, userToken: bearerToken(request) ?? undefined, ip: request.ip };
}

/** The `nonce` a client request may carry (body, or query string for a GET); its answer echoes it. */
export const nonce = z.string().regex(NONCE_PATTERN, '8–64 visible ASCII characters (no spaces)');

/**
 * Ties this request's answer to it: the answer (and, when a nonce came, an error answer too)
 * will carry `nonce` and `request` = the route with `subject`, inside the signed body.
 */
export function bindClientAnswer(request: FastifyRequest, nonce: string | undefined, subject: RequestSubject) {
  request.answerBinding = { nonce, request: requestIdentity(`${request.method} ${request.routeOptions.url ?? request.url}`, subject) };
}
