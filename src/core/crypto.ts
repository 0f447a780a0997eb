import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPairSync, hash, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * Encryption of secrets at rest (application secrets, signing keys). AES-256-GCM with a key
 * derived from KEYCORD_SECRET; the stored form is `v1.<iv>.<tag>.<ciphertext>` in base64url.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(private readonly masterSecret: string) {
    this.key = this.derive('keycord', 'secret-box-v1');
  }

  /** A 32-byte key for one purpose (info) and scope (salt), e.g. an application's token key. */
  derive(salt: string, info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.masterSecret, salt, info, 32));
  }

  seal(plain: string | Buffer): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string): Buffer {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('Unknown sealed format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
  }
}

/** One-shot `crypto.hash` (Node ≥ 20.12, which Keycord requires): no Hash object per call. */
export const sha256Hex = (value: string | Buffer) => hash('sha256', value, 'hex');

export const randomToken = (prefix: string, bytes = 24) => prefix + randomBytes(bytes).toString('base64url');

/** Constant-time comparison of two hex digests (or any equal-length strings). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export interface SigningKeyPair {
  publicKeyHex: string;
  privateKeyDer: Buffer;
}

/** An Ed25519 key pair: the public half as 32 raw bytes in hex, the private half as PKCS#8 DER. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    publicKeyHex: spki.subarray(spki.length - 32).toString('hex'),
    privateKeyDer: privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

export const privateKeyFromDer = (der: Buffer): KeyObject => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
