import { sign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

/** The signed bytes of a client answer, `timestamp + payload`, built in one buffer. */
export function responseMessage(timestamp: string, payload: string | Buffer): Buffer {
  const payloadLength = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const message = Buffer.allocUnsafe(timestamp.length + payloadLength);
  const at = message.write(timestamp, 0, 'latin1');
  if (typeof payload === 'string') message.write(payload, at);
  else payload.copy(message, at);
  return message;
}

/** The part of libsodium (sodium-native) Keycord uses: signing, and what nonce signing needs (ed25519-nonces.ts). */
interface Sodium {
  crypto_sign_detached(signature: Buffer, message: Buffer, secretKey: Buffer): void;
  crypto_hash_sha512(out: Buffer, input: Buffer): void;
  crypto_core_ed25519_scalar_reduce(out: Buffer, wide: Buffer): void;
  crypto_core_ed25519_scalar_add(out: Buffer, x: Buffer, y: Buffer): void;
}

/**
 * Signing is the largest single cost of a client request. libsodium (sodium-native) signs
 * Ed25519 in about half the time OpenSSL 3 takes (~15 µs vs ~30 µs on one bench machine, 32 vs
 * 64 µs on another), and Ed25519 signatures are deterministic (RFC 8032): the bytes are the
 * same, only sooner. Null where sodium-native has no prebuilt binary for the platform; OpenSSL
 * signs there.
 */
export const sodium = (() => {
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return null;
  }
})();

/** libsodium's form of a key: the 64 bytes seed ‖ public key. */
export type SodiumSecretKey = Buffer;

// Derived once per key object. The application cache holds the key objects, so an entry that
// expires takes its derived key with it.
const secretKeys = new WeakMap<KeyObject, SodiumSecretKey>();

/** The libsodium secret key of an Ed25519 private key, or null where libsodium is missing. */
export function sodiumSecretKey(key: KeyObject): SodiumSecretKey | null {
  if (!sodium) return null;
  let secretKey = secretKeys.get(key);
  if (!secretKey) {
    const { d, x } = key.export({ format: 'jwk' });
    if (key.asymmetricKeyType !== 'ed25519' || !d || !x) throw new Error('an Ed25519 private key is needed to sign');
    secretKey = Buffer.concat([Buffer.from(d, 'base64url'), Buffer.from(x, 'base64url')]);
    secretKeys.set(key, secretKey);
  }
  return secretKey;
}

/** Signs with libsodium; only called where `sodiumSecretKey` gave a key, so libsodium loaded. */
function sodiumSign(secretKey: SodiumSecretKey, message: Buffer): Buffer {
  const signature = Buffer.allocUnsafe(64);
  sodium!.crypto_sign_detached(signature, message, secretKey);
  return signature;
}

/** The Ed25519 signature of `message` by `key`, by libsodium where it loaded, else OpenSSL (also signs offline leases). */
export function ed25519Sign(key: KeyObject, message: Buffer): Buffer {
  const secretKey = sodiumSecretKey(key);
  return secretKey ? sodiumSign(secretKey, message) : sign(null, message, key);
}

/** Which library signs client responses on this platform. */
export const ED25519_BACKEND: 'libsodium' | 'openssl' = sodium ? 'libsodium' : 'openssl';
