import { createPublicKey, verify } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { AppView } from './harness.js';

/** Whether a client answer carries a valid Ed25519 signature of `app` over its timestamp and body, as an SDK checks it. */
export function verifySigned(app: Pick<AppView, 'public_key'>, res: LightMyRequestResponse): boolean {
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(app.public_key, 'hex')]), format: 'der', type: 'spki' });
  const signature = res.headers['x-signature-ed25519'];
  if (typeof signature !== 'string') return false;
  return verify(null, Buffer.from(String(res.headers['x-signature-timestamp']) + res.body), key, Buffer.from(signature, 'hex'));
}
