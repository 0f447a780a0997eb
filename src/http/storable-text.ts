import type { FastifyInstance, preValidationHookHandler, RouteOptions } from 'fastify';
import { badRequest, type ErrorDetail } from '../core/errors.js';
import { findUnstorable, UNSTORABLE_MESSAGE } from '../core/storable-text.js';
import { routePolicy } from './route-policy.js';

// Every route refuses unstorable text (core/storable-text.ts) up front, with the path of the offending field.

/** The 400 for a request whose `body` or `querystring` (as named) holds unstorable text, or null. */
export function unstorableTextError(parts: { body?: unknown; querystring?: unknown }) {
  const path = findUnstorable(parts.body, 'body') ?? findUnstorable(parts.querystring, 'querystring');
  if (!path) return null;
  const details: ErrorDetail[] = [{ path, message: UNSTORABLE_MESSAGE }];
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
