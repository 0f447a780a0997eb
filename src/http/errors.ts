import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, type ErrorDetail } from '../core/errors.js';
import { isDatabaseUnavailable } from '../db/database-availability.js';
import { DEADLOCK_DETECTED, FOREIGN_KEY_VIOLATION, SERIALIZATION_FAILURE, sqlStateOf } from '../db/sql-state.js';

/** SQLSTATE foreign_key_violation. */
/** SQLSTATEs deadlock_detected and serialization_failure: Postgres ended this write to let a concurrent one finish. */
const CONCURRENT_WRITE = new Set([DEADLOCK_DETECTED, SERIALIZATION_FAILURE]);

/** The API.md error shape; every non-2xx answer is this. */
export function errorBody(code: string, message: string, details?: ErrorDetail[]) {
  return { success: false as const, code, message, ...(details?.length ? { details } : {}) };
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

export type ErrorRenderer = (request: FastifyRequest, reply: FastifyReply, status: number, body: ReturnType<typeof errorBody>) => unknown;

/** `onDatabaseUnavailable` hears of every connection-level database failure (to fail fast after it). */
export function installErrorHandling(app: FastifyInstance, render: ErrorRenderer, onDatabaseUnavailable?: (err: unknown) => void) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) return render(request, reply, err.status, errorBody(err.code, err.message, err.details));
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = err.validation.map((v) => ({
        path: [err.validationContext, ...v.instancePath.split('/').filter(Boolean)].filter(Boolean).join('.'),
        message: v.message ?? 'is not valid',
      }));
      return render(request, reply, 400, errorBody('VALIDATION_ERROR', 'The request is not valid', details));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return render(request, reply, 413, errorBody('PAYLOAD_TOO_LARGE', 'The request body is too large'));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError ? 'The body is not valid JSON' : err.message;
      return render(request, reply, status, errorBody(CODE_BY_STATUS[status] ?? 'BAD_REQUEST', message));
    }
    // Last line of defence: writes lock the row they add to (src/core/applications/access.ts), so
    // this is a race nothing locked yet — something was deleted under the write. That is the
    // caller's conflict to retry, not our 500; the constraint and the values stay in the log only.
    const sqlState = sqlStateOf(err);
    if (sqlState === FOREIGN_KEY_VIOLATION) {
      request.log.warn({ err }, 'foreign key violation answered as a conflict');
      return render(request, reply, 409, errorBody('CONFLICT', 'Something this change refers to was changed or removed meanwhile; reload and try again'));
    }
    // Likewise a write that lost a deadlock to a concurrent one (deleting an application while
    // one of its rows is changed): nothing was written, and the same request again will go through.
    if (sqlState !== undefined && CONCURRENT_WRITE.has(sqlState)) {
      request.log.warn({ err }, 'write ended by a concurrent one, answered as a conflict');
      return render(request, reply, 409, errorBody('CONFLICT', 'A concurrent change got in the way; nothing was written, try again'));
    }
    if (isDatabaseUnavailable(err)) {
      onDatabaseUnavailable?.(err);
      request.log.warn({ code: (err as { code?: string }).code }, 'database unavailable');
      return render(request, reply, 503, errorBody('UNAVAILABLE', 'The database is unavailable; try again shortly'));
    }
    const ref = randomUUID();
    request.log.error({ err, ref }, 'unhandled error');
    return render(request, reply, 500, errorBody('INTERNAL_ERROR', `Something went wrong (reference ${ref})`));
  });
  app.setNotFoundHandler((request, reply) => render(request, reply, 404, errorBody('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
}

/** Fastify's own words for the URLs its router refuses, which may echo the whole (hostile) path. */
const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_ERR_BAD_URL: 'The URL is not validly percent-encoded',
  FST_ERR_MAX_PARAM_LENGTH: 'A path segment of the URL is too long',
};

/**
 * The `frameworkErrors` option of Fastify: the router refuses a bad percent-encoding (400) or an
 * over-long path parameter (414) before any route exists to carry an error handler, and would
 * answer in Fastify's own shape.
 */
export function renderFrameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  return reply.code(status).send(errorBody(CODE_BY_STATUS[status] ?? 'BAD_REQUEST', FRAMEWORK_MESSAGES[err.code] ?? 'The URL is not valid'));
}
