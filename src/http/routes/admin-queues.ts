import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { authenticateToken } from '../../core/developers/authenticate-token.js';
import type { Deps } from '../../core/deps.js';
import { AppError, forbidden, unauthorized } from '../../core/errors.js';
import { errorBody } from '../errors.js';
import type { Queues } from '../../jobs/queues.js';
import { bearerToken } from '../authenticate.js';

export const ADMIN_QUEUES_PATH = '/admin/queues';
const COOKIE = 'keycord_admin';

function cookieToken(request: FastifyRequest): string | null {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name !== COOKIE) continue;
    try {
      return decodeURIComponent(value.join('='));
    } catch {
      // A cookie we did not write (bad percent-encoding) is no credential, not a server fault.
      return null;
    }
  }
  return null;
}

/**
 * Bull Board, for operators only: a developer token (header, `?Authorization=` or — after the
 * first visit — an HttpOnly cookie scoped to this path) of an account named in KEYCORD_OPERATORS.
 */
export async function adminQueueRoutes(app: FastifyInstance, opts: { deps: Deps; queues: Queues; operators: string[] }) {
  const serverAdapter = new FastifyAdapter();
  createBullBoard({ queues: Object.values(opts.queues).map((q) => new BullMQAdapter(q)), serverAdapter });
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  // Bull Board's own error handler reads only `statusCode`, so our 4xx refusals (the storable-text
  // guard's 400 for a NUL in the query, say) came out as 500 in its shape. Rethrown, every error of
  // its routes goes on to the application's handler and is answered like anywhere else.
  serverAdapter.setErrorHandler((err) => {
    throw err;
  });

  await app.register(async (scope) => {
    // Bull Board installs its own error handler for its routes, so refusals are answered here
    // directly in our error shape rather than thrown.
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const fromRequest = bearerToken(request);
      const token = fromRequest ?? cookieToken(request);
      const refuse = (err: AppError) => reply.code(err.status).send(errorBody(err.code, err.message));
      if (!token) return refuse(unauthorized());
      let actor;
      try {
        actor = await authenticateToken(opts.deps, token, request.ip);
      } catch (err) {
        if (err instanceof AppError) return refuse(err);
        throw err;
      }
      if (!opts.operators.includes(actor.name.toLowerCase())) return refuse(forbidden('Only operators may open the queue dashboard'));
      if (fromRequest) {
        reply.header('set-cookie', `${COOKIE}=${encodeURIComponent(fromRequest)}; Path=${ADMIN_QUEUES_PATH}; HttpOnly; SameSite=Strict; Max-Age=3600`);
      }
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_QUEUES_PATH });
  });
}
