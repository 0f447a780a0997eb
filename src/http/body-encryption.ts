import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ClientApplication } from '../core/applications/application-cache.js';
import { BODY_ENCRYPTION, bodyKey, decryptBody, encryptBody } from '../core/body-encryption.js';
import { AppError, notFound } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request came encrypted: the answer goes back encrypted with this key. */
    bodyKey: Buffer | null;
    /** The request's own parameters came encrypted (a POST body, or a GET's `payload` query). */
    sealedRequest: boolean;
  }
}

const decryptionFailed = (message: string) => new AppError('DECRYPTION_FAILED', message, 400);

/**
 * The encrypted-body convention of API.md, on the HTTP side. Opens `{app_id, payload}` for the
 * client guard, which has found the application (`client`, null if unknown) and counted the
 * request against its rate limit first: the decrypted JSON becomes the body that is then
 * validated, and the answer will go back encrypted with the same key. A failure to decrypt is
 * answered in plain (signed) JSON, since the client could not read it otherwise. A GET has no
 * body: its parameters (license key, HWID, nonce) travel as `?app_id=…&payload=<the same
 * envelope's payload>` and become its query; a GET with the header and no `payload` asks for an
 * encrypted answer only.
 */
export function openEncryptedRequest(request: FastifyRequest, appId: string | null, client: ClientApplication | null): void {
  if (!appId) throw decryptionFailed('An encrypted body is {"app_id": "<uuid>", "payload": "<base64>"}');
  if (!client) throw notFound('Application');
  const key = bodyKey(client.secret, client.appId);
  const isGet = request.method === 'GET';
  const envelope = (isGet ? request.query : request.body) as { payload?: unknown } | undefined;
  if (isGet && envelope?.payload === undefined) {
    request.bodyKey = key;
    return;
  }
  if (typeof envelope?.payload !== 'string') throw decryptionFailed('An encrypted body is {"app_id": "<uuid>", "payload": "<base64>"}');
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
  // Only text can name the application: anything else (an object whose conversion to text throws)
  // is a mismatch, never a 500.
  if (innerAppId !== undefined && (typeof innerAppId !== 'string' || innerAppId.toLowerCase() !== client.appId)) {
    throw decryptionFailed('The encrypted app_id does not match');
  }
  if (isGet) request.query = { ...(inner as object), app_id: client.appId };
  else request.body = { ...(inner as object), app_id: client.appId };
  request.bodyKey = key;
  request.sealedRequest = true;
}

/**
 * Answers to encrypted requests go back encrypted (fresh IV). Installed before the signing hook:
 * the signature covers the encrypted bytes. Streamed answers (file downloads) are not encrypted;
 * they are verified by their signed SHA-256 instead.
 */
export function installEncryptedAnswers(app: FastifyInstance) {
  app.decorateRequest('bodyKey', null);
  app.decorateRequest('sealedRequest', false);
  app.addHook('onSend', (request, reply, payload, done) => {
    const key = request.bodyKey;
    if (!key || typeof payload !== 'string' || !request.clientApp) return done(null, payload);
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.header('X-Body-Encryption', BODY_ENCRYPTION);
    done(null, JSON.stringify({ app_id: request.clientApp.appId, payload: encryptBody(key, payload) }));
  });
}
