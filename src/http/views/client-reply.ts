import { z } from 'zod';
import { clientErrorResponse } from './client-answer.js';

/**
 * How a client route's answer reaches the client, next to `client-answer.ts` (what the answer
 * says): plain signed JSON or encrypted, and the errors every client route can meet.
 */

/**
 * An answer to a request sent with `X-Body-Encryption: aes-256-gcm` (API.md, body-encryption.ts):
 * the plain JSON answer, encrypted with the application's body key, signed over these bytes.
 */
const encryptedAnswer = z
  .object({
    app_id: z.string().describe('The application (UUID), in clear'),
    payload: z.string().describe('base64(iv12 ‖ ciphertext ‖ tag16) of the plain JSON answer'),
  })
  .describe('The answer to an encrypted request (X-Body-Encryption: aes-256-gcm)');

/**
 * A client answer as it reaches the client: the plain (signed) JSON, or the same encrypted when the
 * request came encrypted. The plain shape comes first: it is what the route's serializer produces.
 */
export const plainOrEncrypted = <T extends z.ZodType>(plain: T) => z.union([plain, encryptedAnswer]);

const ENCRYPTED_ERRORS = ' To an encrypted request the error comes back encrypted too, as {app_id, payload}, except DECRYPTION_FAILED.';
const REFUSAL_NONCE =
  ' A valid nonce the request sent is echoed with `request` (a refusal made before the route read the request names it from the fields as sent), except in DECRYPTION_FAILED: it is sealed in what did not decrypt.';

/**
 * The errors of every client route, signed, and bound to the request when it sent a nonce (a 400
 * or a 503 can come from the handler, after the binding; the guard's refusals and the schema's
 * 400 are bound by the guard: client-guard.ts). Routes add their own (404, 403, …).
 */
export const clientErrors = {
  400: clientErrorResponse.describe(
    `The request is not valid (VALIDATION_ERROR), could not be decrypted (DECRYPTION_FAILED, in plain JSON), or must be encrypted (ENCRYPTION_REQUIRED).${ENCRYPTED_ERRORS}${REFUSAL_NONCE}`,
  ),
  429: clientErrorResponse.describe(
    "Rate limited (the application's rate_limit_per_minute per client IP; log-in routes also per IP): see Retry-After. The application's limit echoes a plain request's valid nonce; an encrypted request is refused by it before it is decrypted, so in plain JSON without it. The log-in limit is counted once the request is read, so its refusal is signed, echoes the nonce and names the request like the route's other answers (encrypted for an encrypted request). A request for an unknown app_id is refused unsigned.",
  ),
  503: clientErrorResponse.describe('The database is unavailable: try again shortly'),
};

/** An unknown `app_id`. */
export const unknownApplication = clientErrorResponse.describe('No application has this app_id');
