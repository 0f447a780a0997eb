import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { and, eq, lt, or, isNull } from 'drizzle-orm';
import { idempotencyKeys } from '../db/schema.js';
import type { Deps } from '../core/deps.js';
import { sha256Hex } from '../core/crypto.js';
import { badRequest, conflict } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A create route: honours the Idempotency-Key header. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: { developerId: number; key: string } | null;
  }
}

const KEEP_MS = 24 * 3600_000;
/** A first request that never finished (its process died) stops blocking retries after this. */
const ABANDONED_MS = 60_000;

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
    const now = deps.clock.now().getTime();
    const db = deps.db.orm;
    await db
      .delete(idempotencyKeys)
      .where(
        and(
          eq(idempotencyKeys.developerId, developerId),
          eq(idempotencyKeys.key, key),
          or(lt(idempotencyKeys.createdAt, new Date(now - KEEP_MS)), and(isNull(idempotencyKeys.statusCode), lt(idempotencyKeys.createdAt, new Date(now - ABANDONED_MS)))),
        ),
      );
    const claimed = await db
      .insert(idempotencyKeys)
      .values({ developerId, key, route, requestHash, createdAt: new Date(now) })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    if (claimed.length > 0) {
      request.idempotency = { developerId, key };
      return;
    }
    const [stored] = await db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.developerId, developerId), eq(idempotencyKeys.key, key)));
    if (!stored) throw conflict('The request with this Idempotency-Key changed meanwhile; retry');
    if (stored.requestHash !== requestHash) {
      throw conflict('This Idempotency-Key was used with a different request', 'IDEMPOTENCY_MISMATCH');
    }
    if (stored.statusCode === null) throw conflict('A request with this Idempotency-Key is still in progress', 'IDEMPOTENCY_IN_PROGRESS');
    return reply
      .code(stored.statusCode)
      .header('content-type', 'application/json; charset=utf-8')
      .header('idempotent-replayed', 'true')
      .send(openReplay(deps, stored.responseBody));
  };

  const remember = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = null;
    const where = and(eq(idempotencyKeys.developerId, claim.developerId), eq(idempotencyKeys.key, claim.key));
    if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string') {
      await deps.db.orm.update(idempotencyKeys).set({ statusCode: reply.statusCode, responseBody: deps.box.seal(payload) }).where(where);
    } else {
      await deps.db.orm.delete(idempotencyKeys).where(where);
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

/**
 * Replays are stored sealed (SecretBox, AES-256-GCM under KEYCORD_SECRET): create answers carry
 * secrets shown once — an application's secret, a new API key, a webhook secret — and the table
 * keeps them for 24 h. Rows written before sealing (plain JSON) are still replayed until they age out.
 */
function openReplay(deps: Deps, stored: string | null): string {
  if (stored === null) return 'null';
  return stored.startsWith('v1.') ? deps.box.open(stored).toString('utf8') : stored;
}

const toArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
