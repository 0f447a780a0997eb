import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../crypto.js';

/**
 * End-user tokens: compact JWTs (HS256) signed with a key derived per application from
 * KEYCORD_SECRET, so a token of one application is worthless for another, and rotating
 * KEYCORD_SECRET ends every session.
 */
const USER_TOKEN_TTL_S = 3600;

export interface UserTokenClaims {
  sub: string;
  app: string;
  lic: number | null;
  iat: number;
  exp: number;
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');
const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export const userTokenKey = (box: SecretBox, appId: string): Buffer => box.derive(appId, 'keycord-user-token-v1');

export function signUserToken(key: Buffer, claims: Omit<UserTokenClaims, 'iat' | 'exp'>, nowMs: number, ttlS = USER_TOKEN_TTL_S): string {
  const iat = Math.floor(nowMs / 1000);
  const payload = b64url(JSON.stringify({ ...claims, iat, exp: iat + ttlS }));
  const signature = createHmac('sha256', key).update(`${HEADER}.${payload}`).digest('base64url');
  return `${HEADER}.${payload}.${signature}`;
}

/** The claims of a valid, unexpired token for this application; null for anything else. */
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
  if (claims.app !== appId || typeof claims.exp !== 'number' || claims.exp * 1000 <= nowMs || typeof claims.sub !== 'string') return null;
  return claims;
}
