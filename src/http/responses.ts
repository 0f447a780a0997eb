import type { FastifyInstance, RouteOptions } from 'fastify';
import { z } from 'zod';
import { routePolicy } from './route-policy.js';

/** The error shape of API.md: every non-2xx answer carries it. */
export const errorResponse = z
  .object({
    success: z.literal(false),
    code: z.string().describe('Machine-readable: VALIDATION_ERROR, UNAUTHORIZED, NOT_FOUND, RATE_LIMITED, …'),
    message: z.string(),
    details: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('Which input was wrong, for VALIDATION_ERROR'),
  })
  .describe('An error (API.md)');

/** `{ message }` answers of deletes and other actions that return no resource. */
export const messageResponse = z.object({ message: z.string() });

type ResponseMap = Record<string, z.ZodType>;

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const describeError = (description: string) => errorResponse.describe(description);

/**
 * The errors a route can answer by its policy and its inputs, which no handler needs to repeat:
 * 400 for bad input, 409 for a write a concurrent one got in the way of, 413/415 for a body too large or of another type
 * (any method that may carry one), 401/403/429 for a seller
 * route's token, role and rate limit, 429 for a login route's limit, 503 while the database is
 * down. A route adds its own (404, 409, …) next to its success bodies; what it declares wins.
 */
function impliedErrors(route: Pick<RouteOptions, 'config' | 'schema' | 'method' | 'url'>): ResponseMap {
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  const policy = routePolicy(route);
  const errors: ResponseMap = {};
  // Any request can be refused as bad input: its query, its body, or text no database can store.
  errors[400] = describeError('The request is not valid');
  if (policy.access === 'seller') {
    errors[401] = describeError('No valid token');
    errors[403] = describeError('The token may not do this');
    // Another tenant's resource answers exactly as a missing one.
    if (schema.params) errors[404] = describeError('No such resource (or not yours)');
  }
  const writes = [route.method].flat().some((m) => BODY_METHODS.has(m));
  // An Idempotency-Key reused with another body, or while its first request runs.
  if ((route.config as { idempotent?: boolean } | undefined)?.idempotent)
    errors[409] = describeError('Conflict (an Idempotency-Key reused with another body or still in progress, or the resource itself)');
  // Any write can lose a race the error handler answers as a conflict to retry (src/http/errors.ts):
  // a row it refers to deleted meanwhile, or a deadlock Postgres ended it to break.
  else if (writes) errors[409] = describeError('Conflict: a concurrent change got in the way; nothing was written, try again');
  // Fastify reads a body on every method that may carry one, declared or not.
  if (writes) {
    errors[413] = describeError('The body is too large');
    errors[415] = describeError('The body is not JSON');
  }
  if (policy.limit !== 'none') errors[429] = describeError('Rate limited: see Retry-After');
  errors[503] = describeError('The database is unavailable: try again shortly');
  return errors;
}

/**
 * Completes each route's declared responses with the errors its policy implies, so the OpenAPI
 * document lists every status a client can meet and Fastify serializes each answer from its
 * schema. Routes that declare no responses are left alone (the contract test lists them).
 */
export function installResponseContract(app: FastifyInstance) {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as { response?: ResponseMap; hide?: boolean } | undefined;
    if (!schema?.response || schema.hide) return;
    route.schema = { ...schema, response: { ...impliedErrors(route), ...schema.response } } as RouteOptions['schema'];
    // Client answers are the hot path (validate runs at thousands per second, against a bare
    // one-SELECT route in bench:validate): parsing each through its plain-or-encrypted zod union
    // before stringifying is work per validation that proves nothing new at run time, since the
    // test suite's contract check holds every answer it makes to the same schemas. So here they
    // are only stringified, as before the routes declared their answers.
    if (routePolicy(route).access === 'client') route.serializerCompiler = () => stringifyAnswer;
  });
}

const stringifyAnswer = (data: unknown) => JSON.stringify(data);

/** The schema a route declares for a status: the exact code, then `4XX`-style ranges, then `default`. */
export function declaredResponse(responses: ResponseMap | undefined, status: number): z.ZodType | undefined {
  if (!responses) return undefined;
  return responses[status] ?? responses[`${Math.floor(status / 100)}XX`] ?? responses.default;
}
