import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NONCE_PATTERN, proofSubject, requestIdentity, type RequestIdentity, type RequestSubject } from '../client/answer-binding.js';
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
  interface FastifyContextConfig {
    /**
     * What a client route's answers name as the request they answer (`request`, answer-binding.ts),
     * declared with the route: its own answers and a refusal made before it ran (client-guard.ts)
     * name the request alike, so an SDK checks them alike.
     */
    answerSubject?: AnswerSubjectOf;
  }
}

export interface AnswerBinding {
  nonce: string | undefined;
  request: RequestIdentity;
}

/**
 * Reads a route's subject from its request. It runs on input the route's schema may not have
 * checked yet (a refusal), so it takes only what has the type the SDK sends and nothing else.
 */
export type AnswerSubjectOf = (request: FastifyRequest) => RequestSubject;

/** The body of a POST, the query of a GET: where a client request's fields are. */
const inputOf = (request: FastifyRequest): unknown => (request.method === 'GET' ? request.query : request.body);
const textIn = (input: unknown, name: string): string | undefined => {
  const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' ? value : undefined;
};

/** Subjects of client routes, for their `config.answerSubject`. */
export const answerSubjects = {
  /** These fields of the body (a GET's query), as sent. */
  fields:
    (...names: ('license_key' | 'old_license_key' | 'new_license_key' | 'hwid' | 'username')[]): AnswerSubjectOf =>
    (request) => {
      const input = inputOf(request);
      const subject: RequestSubject = {};
      for (const name of names) subject[name] = textIn(input, name);
      return subject;
    },
  /** The bearer user token. */
  userToken: ((request) => ({ user_token: bearerToken(request) ?? undefined })) satisfies AnswerSubjectOf,
  /** The `:name` of the path. */
  pathName: ((request) => ({ name: textIn(request.params, 'name') })) satisfies AnswerSubjectOf,
  /** The `:id` of the path, as the number the SDK names it by (before the schema, a digit string). */
  pathFileId: ((request) => {
    const id = (request.params as { id?: unknown } | undefined)?.id;
    const fileId = typeof id === 'number' ? id : typeof id === 'string' && /^\d{1,15}$/.test(id) ? Number(id) : undefined;
    return { file_id: fileId };
  }) satisfies AnswerSubjectOf,
};

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

/**
 * The proof a request for a private resource carried, as its answer names it (the route adds it to
 * its declared subject once its input is parsed): the license key and HWID exactly as the route
 * reads them, and the bearer user token. A refusal made before the route ran (client-guard) names
 * the declared subject only: it can only ever refuse.
 */
export function clientProofSubject(request: FastifyRequest, query: { license_key?: string | undefined; hwid?: string | undefined }): RequestSubject {
  return proofSubject({ license_key: query.license_key, hwid: query.hwid, user_token: bearerToken(request) ?? undefined });
}

/** The `nonce` a client request may carry (body, or query string for a GET); its answer echoes it. */
export const nonce = z.string().regex(NONCE_PATTERN, '8–64 visible ASCII characters (no spaces)');

/**
 * Ties this request's answer to it: the answer (and, when a nonce came, an error answer too)
 * will carry `nonce` and `request` = the route with the subject it declares (and `more`, what only
 * the route itself reads: a private resource's proof), inside the signed body.
 */
export function bindClientAnswer(request: FastifyRequest, nonce: string | undefined, more?: RequestSubject) {
  const subjectOf = request.routeOptions.config.answerSubject;
  if (!subjectOf) throw new Error(`${request.method} ${request.routeOptions.url} binds its answers but declares no config.answerSubject`);
  const subject = more ? { ...subjectOf(request), ...more } : subjectOf(request);
  request.answerBinding = { nonce, request: requestIdentity(`${request.method} ${request.routeOptions.url ?? request.url}`, subject) };
}
