import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AnswerBinding } from './client-app.js';
import { ed25519Sign, responseMessage, sodiumSecretKey } from './ed25519.js';
import { NONCE_SIGNING, scalarKeyOf, signWithNonce } from './ed25519-nonces.js';
import { NoncePool } from './nonce-pool.js';

const DRY_REPORT_MS = 60_000;

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The Ed25519 signature of `timestamp ‖ payload` by an application's key: with a nonce made
     * ahead when the pool has one, else inline. Client answers are signed with it (timestamp and
     * body), and so are offline leases (no timestamp: the lease's own bytes).
     */
    signClientMessage(key: KeyObject, timestamp: string, payload: string | Buffer): Buffer;
  }
}

export interface ClientSigningOptions {
  /**
   * Sign with nonces made ahead on a second thread (SIGNING_THREAD). Only where libsodium loaded:
   * its scalar arithmetic is what finishes such a signature; without it, OpenSSL signs inline.
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
  const nonces = opts.thread && NONCE_SIGNING ? new NoncePool((err) => app.log.warn({ err }, 'nonce thread failed; client answers are signed inline from now on')) : null;
  if (nonces) {
    app.log.info('client answers are signed with nonces made ahead on a second thread (libsodium)');
    // The thread yields to everything else, so on CPUs saturated for long it falls behind and
    // answers are signed inline (correct, ~4x the event loop's work per answer): said once a minute.
    const report = setInterval(() => {
      const inline = nonces.drainDryTakes();
      if (inline > 0) app.log.info({ inline }, 'client answers signed inline in the last minute: the nonce thread had no pair ready');
    }, DRY_REPORT_MS).unref();
    app.addHook('onClose', () => {
      clearInterval(report);
      return nonces.stop();
    });
  }

  const signClientMessage = (key: KeyObject, timestamp: string, payload: string | Buffer): Buffer => {
    const pair = nonces?.take();
    return pair ? signWithNonce(scalarKeyOf(sodiumSecretKey(key)!), pair, timestamp, payload) : ed25519Sign(key, responseMessage(timestamp, payload));
  };
  app.decorate('signClientMessage', signClientMessage);

  // Callback style: an async hook would cost every response a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    const clientApp = request.clientApp;
    if (!clientApp || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return done(null, payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    reply.header('X-Signature-Timestamp', timestamp);
    reply.header('X-Signature-Ed25519', signClientMessage(clientApp.signingKey, timestamp, payload).toString('hex'));
    done(null, payload);
  });
}

/**
 * A decided answer always carries `request` (and `nonce` when one came), so it cannot pass for
 * the answer to another request. An error answer keeps the plain API.md shape unless the client
 * sent a nonce: a client that asks for binding gets its errors bound too (refusals made before the
 * route ran as well: client-guard.ts).
 */
function boundAnswer(payload: object, binding: AnswerBinding, status: number): object {
  if (binding.nonce === undefined) return status >= 400 ? payload : { ...payload, request: binding.request };
  return { ...payload, nonce: binding.nonce, request: binding.request };
}
