import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Deps } from '../core/deps.js';
import { sha256Hex } from '../core/crypto.js';
import { badRequest } from '../core/errors.js';
import { claimIdempotencyKey, forgetIdempotencyKey, storeIdempotentAnswer } from '../core/idempotency-keys.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A create route: honours the Idempotency-Key header. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: { developerId: number; key: string } | null;
  }
}

/**
 * `Idempotency-Key` on create routes: the first 2xx response is stored (sealed) per developer and key and
 * replayed for a repeat with the same body within 24 h; the same key with another body is a 409.
 * A request that failed is forgotten, so it can be retried with the same key.
 */
export function installIdempotency(app: FastifyInstance, deps: Deps) {
  app.decorateRequest('idempotency', null);

  const claim = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.actor) return;
    const key = request.headers['idempotency-key'];
    if (key === undefined) return;
    if (typeof key !== 'string' || key.length < 1 || key.length > 255) {
      throw badRequest('Idempotency-Key must be 1–255 characters');
    }
    const developerId = request.actor.developerId;
    const route = `${request.method} ${request.routeOptions.url}`;
    const requestHash = sha256Hex(`${route}\n${request.url}\n${JSON.stringify(request.body ?? null)}`);
    const claimed = await claimIdempotencyKey(deps, { developerId, key, route, requestHash });
    if (claimed.run) {
      request.idempotency = { developerId, key };
      return;
    }
    return reply.code(claimed.statusCode).header('content-type', 'application/json; charset=utf-8').header('idempotent-replayed', 'true').send(claimed.body);
  };

  const remember = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = null;
    if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string') {
      await storeIdempotentAnswer(deps, claim.developerId, claim.key, reply.statusCode, payload);
    } else {
      await forgetIdempotencyKey(deps, claim.developerId, claim.key);
    }
    return payload;
  };

  // Only create routes carry these hooks; every other request pays nothing for them.
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!(route.config as { idempotent?: boolean } | undefined)?.idempotent) return;
    route.preHandler = [...toArray(route.preHandler), claim];
    route.onSend = [...toArray(route.onSend), remember as never];
  });
}

const toArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
