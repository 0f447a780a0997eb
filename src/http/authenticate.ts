import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../core/actor.js';
import type { ClientApplication } from '../core/applications/application-cache.js';
import { authenticateToken } from '../core/developers/authenticate-token.js';
import type { Deps } from '../core/deps.js';
import { unauthorized } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Extract<Actor, { kind: 'developer' }> | null;
    clientApp: ClientApplication | null;
  }
}

/** The bearer token from the header, or from `?Authorization=Bearer%20…` as PoPaAP's examples use. */
export function bearerToken(request: FastifyRequest): string | null {
  const query = request.query as Record<string, unknown> | undefined;
  const raw = request.headers.authorization ?? (typeof query?.Authorization === 'string' ? query.Authorization : undefined);
  if (!raw) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(raw.trim());
  return match?.[1] ?? null;
}

/**
 * onRequest hook for seller routes: no valid token, no further work (401 before any parsing). A
 * token that must be looked up is admitted by the unknown-token limit first (token-lookup-limit.ts).
 */
export const requireDeveloper = (deps: Deps) => async (request: FastifyRequest, reply: FastifyReply) => {
  const token = bearerToken(request);
  if (!token) throw unauthorized();
  request.actor = await authenticateToken(deps, token, request.ip, request.server.tokenLookups?.gateFor(request, reply));
};

export function sellerActor(request: FastifyRequest) {
  if (!request.actor) throw unauthorized();
  return request.actor;
}
