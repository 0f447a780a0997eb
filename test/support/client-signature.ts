import { createPublicKey, verify } from 'node:crypto';

/** An application's Ed25519 public key (hex, as the API shows it) as a key object: the raw key behind the SPKI header. */
const publicKeyOf = (hex: string) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });

/**
 * Whether a client answer carries a valid Ed25519 signature of the application (its `public_key`,
 * or the hex itself) over its timestamp and `signed` — the body, unless the route signs other text
 * (a download) — as an SDK checks it.
 */
export function verifySigned(app: { public_key: string } | string, res: { headers: Record<string, unknown>; body: string }, signed: string = res.body): boolean {
  const signature = res.headers['x-signature-ed25519'];
  if (typeof signature !== 'string') return false;
  return verify(null, Buffer.from(String(res.headers['x-signature-timestamp']) + signed), publicKeyOf(typeof app === 'string' ? app : app.public_key), Buffer.from(signature, 'hex'));
}
