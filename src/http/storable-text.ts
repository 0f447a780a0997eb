import type { FastifyInstance, preValidationHookHandler, RouteOptions } from 'fastify';
import { badRequest, type ErrorDetail } from '../core/errors.js';
import { routePolicy } from './route-policy.js';

/**
 * Postgres cannot store a NUL character in text, nor an unpaired UTF-16 surrogate in jsonb; such
 * input would fail deep inside a query as a 500. It is bad input, so it is refused up front, for
 * every route, with the path of the offending field.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MESSAGE = 'may not contain NUL characters or unpaired surrogates';
const MAX_DEPTH = 64;

/** The path of the first unstorable string, built only when one is found (this runs per request). */
function findUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : null;
  // Bytes (a raw body kept for its signature) are numbers, not text: walking a Buffer would visit
  // every byte as a field of its own, a fifth of a Discord interaction's CPU, to find nothing.
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || ArrayBuffer.isView(value)) return null;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (UNSTORABLE.test(key)) return `${path}.${key}`;
    const found = findUnstorable((value as Record<string, unknown>)[key], key, depth + 1);
    if (found) return `${path}.${found}`;
  }
  return null;
}

/** The 400 for a request whose `body` or `querystring` (as named) holds unstorable text, or null. */
export function unstorableTextError(parts: { body?: unknown; querystring?: unknown }) {
  const path = findUnstorable(parts.body, 'body') ?? findUnstorable(parts.querystring, 'querystring');
  if (!path) return null;
  const details: ErrorDetail[] = [{ path, message: MESSAGE }];
  return badRequest('The request is not valid', 'VALIDATION_ERROR', details);
}

/**
 * Every route's body and query as they arrived, but a client route's: the client guard checks
 * those once it knows the application, so the refusal is signed like every client answer, and
 * an encrypted request's once it is opened (it arrives as an envelope).
 */
export function installStorableTextGuard(app: FastifyInstance) {
  // Callback style: the check is synchronous, and an async hook would cost every request a promise.
  const check: preValidationHookHandler = (request, _reply, done) => done(unstorableTextError({ body: request.body, querystring: request.query }) ?? undefined);
  // Decided per route as it is added (reading a request's route options builds an object each time).
  app.addHook('onRoute', (route: RouteOptions) => {
    if (routePolicy(route).access === 'client') return;
    const existing = route.preValidation;
    route.preValidation = existing ? [check, ...(Array.isArray(existing) ? existing : [existing])] : [check];
  });
}
