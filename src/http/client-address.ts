import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors.js';

/**
 * Behind TRUST_PROXY the client IP comes from X-Forwarded-For, which is text the client may have
 * written (up to the header limit). It keys rate limits and lands in logs and the database, so a
 * request whose resolved address is not an IP address is refused before anything reads it.
 */
export function installClientAddressCheck(app: FastifyInstance) {
  app.addHook('onRequest', (request, reply, done) => {
    if (isIP(request.ip)) return done();
    reply.code(400).send(errorBody('VALIDATION_ERROR', 'X-Forwarded-For does not name a valid client address'));
  });
}
