import type { FastifyInstance } from 'fastify';
import type { AnswerBinding } from './client-app.js';
import { ED25519_BACKEND, signResponseHex, sodiumSecretKey } from './ed25519.js';
import { SigningThread } from './signing-thread.js';

export interface ClientSigningOptions {
  /**
   * Sign on a second thread (SIGNING_THREAD). Only where libsodium loaded: without it there is
   * no signer for the thread, and OpenSSL signs inline.
   */
  thread: boolean;
}

/**
 * Every client-API response is signed with the application's Ed25519 key over
 * `timestamp + raw body`, so a customer app can tell Keycord's answers from a forged server's.
 */
export function installClientSigning(app: FastifyInstance, opts: ClientSigningOptions) {
  app.decorateRequest('clientApp', null);
  app.decorateRequest('answerBinding', null);
  // Before serialization, hence before encryption and signing: the echo is inside the signed bytes.
  app.addHook('preSerialization', (request, reply, payload, done) => {
    const binding = request.answerBinding;
    if (!binding || typeof payload !== 'object' || payload === null || Array.isArray(payload)) return done(null, payload);
    done(null, boundAnswer(payload, binding, reply.statusCode));
  });
  const thread = opts.thread && ED25519_BACKEND === 'libsodium' ? new SigningThread((err) => app.log.warn({ err }, 'signing thread failed; client answers are signed inline from now on')) : null;
  if (thread) {
    app.log.info('client answers are signed on a signing thread (libsodium)');
    app.addHook('onClose', () => thread.stop());
  }

  // Callback style: an async hook would cost every response a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    const clientApp = request.clientApp;
    if (!clientApp || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return done(null, payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    reply.header('X-Signature-Timestamp', timestamp);
    if (!thread) {
      reply.header('X-Signature-Ed25519', signResponseHex(clientApp.signingKey, timestamp, payload));
      return done(null, payload);
    }
    thread.sign(sodiumSecretKey(clientApp.signingKey)!, timestamp, payload, (err, signature) => {
      if (err) return done(err);
      reply.header('X-Signature-Ed25519', signature!.toString('hex'));
      done(null, payload);
    });
  });
}

/**
 * A decided answer always carries `request` (and `nonce` when one came), so it cannot pass for
 * the answer to another request. An error answer keeps the plain API.md shape unless the client
 * sent a nonce: a client that asks for binding gets its errors bound too.
 */
function boundAnswer(payload: object, binding: AnswerBinding, status: number): object {
  if (binding.nonce === undefined) return status >= 400 ? payload : { ...payload, request: binding.request };
  return { ...payload, nonce: binding.nonce, request: binding.request };
}
