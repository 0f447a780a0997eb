import type { FastifyInstance } from 'fastify';
import { signEd25519Hex } from '../core/crypto.js';

/**
 * Every client-API response is signed with the application's Ed25519 key over
 * `timestamp + raw body`, so a customer app can tell Keycord's answers from a forged server's.
 */
export function installClientSigning(app: FastifyInstance) {
  app.decorateRequest('clientApp', null);
  app.addHook('onSend', async (request, reply, payload) => {
    const clientApp = request.clientApp;
    if (!clientApp || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return payload;
    const timestamp = String(Math.floor(Date.now() / 1000));
    reply.header('X-Signature-Timestamp', timestamp);
    reply.header('X-Signature-Ed25519', signEd25519Hex(clientApp.signingKey, Buffer.concat([Buffer.from(timestamp), Buffer.from(payload)])));
    return payload;
  });
}
