import type { FastifyRequest } from 'fastify';
import type { ClientApplication } from '../core/applications/application-cache.js';
import type { Deps } from '../core/deps.js';
import { notFound } from '../core/errors.js';
import type { ClientCredentials } from '../core/users/client-credentials.js';
import { bearerToken } from './authenticate.js';

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

export const withNonce = <T extends object>(body: T, nonce: string | undefined) => (nonce === undefined ? body : { ...body, nonce });
