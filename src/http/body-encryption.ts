import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BODY_ENCRYPTION, bodyKey, decryptBody, encryptBody } from '../core/body-encryption.js';
import type { Deps } from '../core/deps.js';
import { AppError, notFound } from '../core/errors.js';
import { CLIENT_ROUTES, routeId } from './client-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request came encrypted: the answer goes back encrypted with this key. */
    bodyKey: Buffer | null;
  }
}

const decryptionFailed = (message: string) => new AppError('DECRYPTION_FAILED', message, 400);

/**
 * `X-Body-Encryption: aes-256-gcm` on client routes: the body `{app_id, payload}` is decrypted
 * before validation, and the answer is encrypted (fresh IV) before it is signed — so this hook
 * must be installed before the signing hook. A failure to decrypt is answered in plain (signed)
 * JSON, since the client could not read it otherwise. Applications with `require_encryption`
 * refuse plain requests with a body. Streamed answers (file downloads) are not encrypted; they
 * are verified by their signed SHA-256 instead.
 */
export function installBodyEncryption(app: FastifyInstance, deps: Deps) {
  app.decorateRequest('bodyKey', null);

  app.addHook('preValidation', async (request: FastifyRequest) => {
    if (!CLIENT_ROUTES.has(routeId(request.method, request.routeOptions.url ?? ''))) return;
    const mode = request.headers['x-body-encryption'];
    const envelope = request.body as { app_id?: unknown; payload?: unknown } | undefined;
    const query = request.query as { app_id?: unknown } | undefined;
    const appId = typeof envelope?.app_id === 'string' ? envelope.app_id : typeof query?.app_id === 'string' ? query.app_id : null;
    // A GET has no body to decrypt: the header asks for an encrypted answer only, and
    // require_encryption accepts it (the key material travels in the query either way).
    if (request.method === 'GET') {
      if (mode === undefined) return;
      if (mode !== BODY_ENCRYPTION) throw new AppError('VALIDATION_ERROR', `X-Body-Encryption must be ${BODY_ENCRYPTION}`, 400);
      const client = appId ? await deps.apps.get(appId) : null;
      if (client) {
        request.clientApp = client;
        request.bodyKey = bodyKey(client.secret, client.appId);
      }
      return;
    }
    if (mode === undefined) {
      const client = appId ? await deps.apps.get(appId) : null;
      if (client?.settings.require_encryption) {
        request.clientApp = client;
        throw new AppError('ENCRYPTION_REQUIRED', 'This application accepts encrypted requests only (X-Body-Encryption: aes-256-gcm)', 400);
      }
      return;
    }
    if (mode !== BODY_ENCRYPTION) throw new AppError('VALIDATION_ERROR', `X-Body-Encryption must be ${BODY_ENCRYPTION}`, 400);
    if (!appId || typeof envelope?.payload !== 'string') throw decryptionFailed('An encrypted body is {"app_id": "<uuid>", "payload": "<base64>"}');
    const client = await deps.apps.get(appId);
    if (!client) throw notFound('Application');
    request.clientApp = client;
    const key = bodyKey(client.secret, client.appId);
    const plaintext = decryptBody(key, envelope.payload);
    if (plaintext === null) throw decryptionFailed('The payload could not be decrypted with this application’s key');
    let inner: unknown;
    try {
      inner = JSON.parse(plaintext);
    } catch {
      throw decryptionFailed('The decrypted payload is not JSON');
    }
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) throw decryptionFailed('The decrypted payload is not a JSON object');
    const innerAppId = (inner as { app_id?: unknown }).app_id;
    if (innerAppId !== undefined && String(innerAppId).toLowerCase() !== client.appId) throw decryptionFailed('The encrypted app_id does not match');
    request.body = { ...(inner as object), app_id: client.appId };
    request.bodyKey = key;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const key = request.bodyKey;
    if (!key || typeof payload !== 'string' || !request.clientApp) return payload;
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.header('X-Body-Encryption', BODY_ENCRYPTION);
    return JSON.stringify({ app_id: request.clientApp.appId, payload: encryptBody(key, payload) });
  });
}
