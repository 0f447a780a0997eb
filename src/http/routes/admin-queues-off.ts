import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorBody } from '../errors.js';

const OFF_MESSAGE = 'The queue dashboard is off: name its operators in KEYCORD_OPERATORS';

/**
 * Where no operator is named (KEYCORD_OPERATORS), nobody may open Bull Board, so it is not loaded:
 * its UI, lodash and validation library hold ~6 MB resident and 5 MB of heap for good (bench:memory,
 * postgres+redis+ops). Its paths say why they are not there instead of a bare 404.
 */
export function adminQueuesOff(app: FastifyInstance) {
  const off = async (_request: unknown, reply: FastifyReply) => reply.code(404).send(errorBody('NOT_FOUND', OFF_MESSAGE));
  app.get('/admin/queues', { config: { access: 'public' }, schema: { hide: true } }, off);
  app.all('/admin/queues/*', { config: { access: 'public' }, schema: { hide: true } }, off);
}
