import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../crypto.js';

/**
 * End-user tokens: compact JWTs (HS256) signed with a key derived per application from
 * KEYCORD_SECRET, so a token of one application is worthless for another, and rotating
 * KEYCORD_SECRET ends every session.
 *
 * A token also carries `pwd`, a fingerprint of the password hash it was issued under (keyed with
 * the same key, so it tells a reader nothing about the hash). Where a token is verified, the user
 * row is read anyway: a fingerprint that no longer matches the stored hash refuses the token as an
 * expired one would. So a password reset ends every session of that user at once; a login does not
 * change the hash, so logging in on one device leaves the others signed in. (Argon2 salts every
 * hash: even a reset to the same password ends the sessions.)
 */
const USER_TOKEN_TTL_S = 3600;

/** Bytes of HMAC(token key, password hash) a token carries: 128 bits, 22 base64url characters. */
const PASSWORD_FINGERPRINT_BYTES = 16;

/** Who a token is for: the user (`sub`), its application (`app`) and its license when issued (`lic`). */
export interface UserTokenSubject {
  sub: string;
  app: string;
  lic: number | null;
}

export interface UserTokenClaims extends UserTokenSubject {
  pwd: string;
  iat: number;
  exp: number;
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');
const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export const userTokenKey = (box: SecretBox, appId: string): Buffer => box.derive(appId, 'keycord-user-token-v1');

const passwordFingerprint = (key: Buffer, passwordHash: string): Buffer => createHmac('sha256', key).update(passwordHash).digest().subarray(0, PASSWORD_FINGERPRINT_BYTES);

/** A token for `subject`, bound to the password hash the user has now (`pwd`). */
export function signUserToken(key: Buffer, subject: UserTokenSubject, passwordHash: string, nowMs: number, ttlS = USER_TOKEN_TTL_S): string {
  const iat = Math.floor(nowMs / 1000);
  const claims: UserTokenClaims = { sub: subject.sub, app: subject.app, lic: subject.lic, pwd: b64url(passwordFingerprint(key, passwordHash)), iat, exp: iat + ttlS };
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', key).update(`${HEADER}.${payload}`).digest('base64url');
  return `${HEADER}.${payload}.${signature}`;
}

/**
 * The claims of a valid, unexpired token for this application; null for anything else (a token
 * without `pwd` included). The caller still checks `pwd` against the user row with `holdsPassword`.
 */
export function verifyUserToken(key: Buffer, token: string, appId: string, nowMs: number): UserTokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== HEADER) return null;
  const expected = createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let claims: UserTokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as UserTokenClaims;
  } catch {
    return null;
  }
  if (claims.app !== appId || typeof claims.exp !== 'number' || claims.exp * 1000 <= nowMs || typeof claims.sub !== 'string' || typeof claims.pwd !== 'string') return null;
  return claims;
}

/** Whether the token was issued under the password hash the user has now (false after a reset). */
export function holdsPassword(key: Buffer, claims: UserTokenClaims, passwordHash: string): boolean {
  const given = Buffer.from(claims.pwd, 'base64url');
  const expected = passwordFingerprint(key, passwordHash);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
