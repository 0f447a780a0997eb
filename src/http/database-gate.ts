import type { FastifyInstance } from 'fastify';
import type { Deps } from '../core/deps.js';
import { errorBody } from './errors.js';

/** Routes that answer without the database: health (it probes for itself) and the docs. */
const ANSWERS_WITHOUT_DATABASE = /^\/(api\/health|openapi\.json|docs)(\/|\?|$)/;

/**
 * While the database is known to be down, every request that needs it is answered 503 at once
 * (with Retry-After) rather than queueing for a connection that will not come. The knowledge
 * comes from DatabaseAvailability: set by the first connection failure, cleared by its probe or
 * a health check that gets through.
 */
export function installDatabaseGate(app: FastifyInstance, deps: Deps) {
  const availability = deps.dbAvailability;
  // Callback style: on the validation hot path this costs one property read.
  app.addHook('onRequest', (request, reply, done) => {
    if (!availability.isDown || ANSWERS_WITHOUT_DATABASE.test(request.url)) return done();
    reply.code(503).header('retry-after', '1').send(errorBody('UNAVAILABLE', 'The database is unavailable; try again shortly'));
  });
}
