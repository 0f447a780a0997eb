/** The server uses the very code the client SDK ships, so the two cannot drift apart. */
export { BODY_ENCRYPTION, bodyKey, decryptBody, encryptBody } from '../client/body-crypto.js';
