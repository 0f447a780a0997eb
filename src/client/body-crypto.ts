import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The encrypted-body convention (API.md), shared by the SDK and the server: AES-256-GCM, key =
 * HKDF-SHA256(ikm = the application's secret as the API returned it, salt = app_id,
 * info = "keycord-body-v1"), payload = base64(iv12 ‖ ciphertext ‖ tag16).
 */
export const BODY_ENCRYPTION = 'aes-256-gcm';

export const bodyKey = (secret: string, appId: string) => Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from(appId, 'utf8'), 'keycord-body-v1', 32));

export function encryptBody(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64');
}

/** The plaintext, or null when the key is wrong or the payload was tampered with. */
export function decryptBody(key: Buffer, payload: string): string | null {
  const raw = Buffer.from(payload, 'base64');
  if (raw.length < 12 + 16) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
