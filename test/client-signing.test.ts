import { generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { privateKeyFromDer } from '../src/core/crypto.js';
import { ED25519_BACKEND, ed25519Sign, responseMessage } from '../src/http/ed25519.js';

/** What client-signing does without a nonce ready: the key's signature of `timestamp + payload`, as hex. */
const signInline = (key: KeyObject, timestamp: string, payload: string | Buffer) => ed25519Sign(key, responseMessage(timestamp, payload)).toString('hex');

const sodiumInstalled = (() => {
  try {
    createRequire(import.meta.url)('sodium-native');
    return true;
  } catch {
    return false;
  }
})();

/** A key as the application cache holds it: the PKCS#8 DER form, loaded into a KeyObject. */
function applicationKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signingKey: privateKeyFromDer(privateKey.export({ format: 'der', type: 'pkcs8' })), publicKey };
}

const PAYLOADS: (string | Buffer)[] = [
  '',
  '{"success":true,"code":"VALID","message":"License is valid"}',
  '{"message":"Grüße, ライセンス ✓"}', // multi-byte UTF-8: the byte length differs from .length
  randomBytes(4096),
];

describe('client response signatures', () => {
  it('use libsodium wherever sodium-native is installed', () => {
    expect(ED25519_BACKEND).toBe(sodiumInstalled ? 'libsodium' : 'openssl');
  });

  it('are byte for byte what OpenSSL gives, so clients see no difference', () => {
    for (let k = 0; k < 5; k++) {
      const key = applicationKey();
      for (const payload of PAYLOADS) {
        const timestamp = String(1_767_225_600 + k);
        const message = Buffer.concat([Buffer.from(timestamp), Buffer.from(payload)]);
        expect(responseMessage(timestamp, payload).equals(message)).toBe(true);
        const signature = signInline(key.signingKey, timestamp, payload);
        expect(signature).toBe(sign(null, message, key.signingKey).toString('hex'));
        expect(verify(null, message, key.publicKey, Buffer.from(signature, 'hex'))).toBe(true);
      }
    }
  });

  it("are made with each application's own key", () => {
    const a = applicationKey();
    const b = applicationKey();
    const message = Buffer.from('1767225600{}');
    const byA = signInline(a.signingKey, '1767225600', '{}');
    const byB = signInline(b.signingKey, '1767225600', '{}');
    expect(byA).not.toBe(byB);
    expect(verify(null, message, a.publicKey, Buffer.from(byA, 'hex'))).toBe(true);
    expect(verify(null, message, b.publicKey, Buffer.from(byB, 'hex'))).toBe(true);
  });
});
