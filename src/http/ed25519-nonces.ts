import { sodium } from './ed25519.js';

/**
 * Ed25519 signing with a nonce computed beforehand. A signature is (R, S) with R = r·B for a
 * secret nonce r, and S = r + SHA-512(R ‖ A ‖ M)·a mod L (a the key's secret scalar, A its public
 * key). Almost all of its cost is r·B, and r·B does not depend on the message or the key: so a
 * second thread computes (r, R) pairs ahead, in batches (nonce-pool.ts), and the answer's own
 * signing is a SHA-512 and some scalar arithmetic, a few µs on the event loop.
 *
 * RFC 8032 derives r from the key and the message, so that a broken random generator cannot leak
 * the key; here r comes from libsodium's CSPRNG (64 random bytes reduced mod L, uniform to within
 * 2^-259), as in the Schnorr signatures Ed25519 descends from. A verifier cannot tell the two
 * apart: a signature verifies exactly when it would. What matters is that no r is used twice (two
 * signatures with one r give away the key): a pair is handed out once and wiped when used.
 */

/** A key as nonce signing needs it: the secret scalar `a` as 16-bit limbs, and the public key A. */
export interface ScalarKey {
  limbs: Float64Array;
  publicKey: Buffer;
}

const scalarKeys = new WeakMap<Buffer, ScalarKey>();

/** The scalar form of a libsodium secret key (seed ‖ public key): a = clamp(SHA-512(seed)[0..32]). */
export function scalarKeyOf(secretKey: Buffer): ScalarKey {
  let key = scalarKeys.get(secretKey);
  if (!key) {
    const h = Buffer.alloc(64);
    sodium!.crypto_hash_sha512(h, secretKey.subarray(0, 32));
    h[0]! &= 248;
    h[31]! &= 127;
    h[31]! |= 64;
    const limbs = new Float64Array(16);
    for (let i = 0; i < 16; i++) limbs[i] = h[2 * i]! | (h[2 * i + 1]! << 8);
    h.fill(0);
    key = { limbs, publicKey: Buffer.from(secretKey.subarray(32, 64)) };
    scalarKeys.set(secretKey, key);
  }
  return key;
}

// Scratch space of the one signature being made (the event loop makes one at a time).
const digest = Buffer.alloc(64);
const k = Buffer.alloc(32);
const wide = Buffer.alloc(64);
const ka = Buffer.alloc(32);
const columns = new Float64Array(32);
/** 2^-16, exactly (a power of two). */
const TWO_TO_MINUS_16 = 1 / 65536;

/**
 * `wide` = k × a, the full 512-bit product of two little-endian 256-bit numbers, by 16-bit limbs:
 * each column sums at most 16 products below 2^32, far inside a double's 53 exact bits. libsodium
 * reduces mod L but has no scalar product in sodium-native's binding, hence this.
 */
function multiply(kBytes: Buffer, a: Float64Array) {
  columns.fill(0);
  for (let i = 0; i < 16; i++) {
    const ki = kBytes[2 * i]! | (kBytes[2 * i + 1]! << 8);
    if (ki === 0) continue;
    for (let j = 0; j < 16; j++) columns[i + j]! += ki * a[j]!;
  }
  let carry = 0;
  for (let c = 0; c < 32; c++) {
    const v = columns[c]! + carry;
    // × 2^-16 rather than ÷ 65536: exact all the same, and no division whose time might depend on `a`.
    carry = Math.floor(v * TWO_TO_MINUS_16);
    const limb = v - carry * 65536;
    wide[2 * c] = limb & 0xff;
    wide[2 * c + 1] = limb >>> 8;
  }
}

/**
 * The signature of `timestamp ‖ payload` with the nonce pair `pair` (r ‖ R, 64 bytes), which is
 * wiped: it must never sign again. `pair` comes from a NoncePool.
 */
export function signWithNonce(key: ScalarKey, pair: Buffer, timestamp: string, payload: string | Buffer): Buffer {
  const payloadLength = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  // R ‖ A ‖ M in one buffer, hashed in one call.
  const hashed = Buffer.allocUnsafe(64 + timestamp.length + payloadLength);
  pair.copy(hashed, 0, 32, 64);
  key.publicKey.copy(hashed, 32);
  const at = 64 + hashed.write(timestamp, 64, 'latin1');
  if (typeof payload === 'string') hashed.write(payload, at);
  else payload.copy(hashed, at);
  sodium!.crypto_hash_sha512(digest, hashed);
  sodium!.crypto_core_ed25519_scalar_reduce(k, digest);
  multiply(k, key.limbs);
  sodium!.crypto_core_ed25519_scalar_reduce(ka, wide);
  const signature = Buffer.allocUnsafe(64);
  pair.copy(signature, 0, 32, 64);
  sodium!.crypto_core_ed25519_scalar_add(signature.subarray(32), pair.subarray(0, 32), ka);
  pair.fill(0);
  wide.fill(0);
  ka.fill(0);
  columns.fill(0);
  return signature;
}

/** Whether nonce signing is available (libsodium loaded). */
export const NONCE_SIGNING = sodium !== null;
