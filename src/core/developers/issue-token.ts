import { developerTokens } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import { randomToken, sha256Hex } from '../crypto.js';

export const SESSION_PREFIX = 'kc_sess_';
export const API_KEY_PREFIX = 'kc_live_';

/** Makes a bearer token and stores only its hash; the plain token is returned once. */
export async function issueToken(tx: Executor, developerId: number, kind: 'session' | 'api_key', opts: { name?: string; expiresAt?: Date | null } = {}) {
  const token = randomToken(kind === 'session' ? SESSION_PREFIX : API_KEY_PREFIX, 32);
  const [row] = await tx
    .insert(developerTokens)
    .values({
      developerId,
      kind,
      name: opts.name ?? null,
      tokenHash: sha256Hex(token),
      hint: token.slice(0, 12),
      expiresAt: opts.expiresAt ?? null,
    })
    .returning();
  return { token, row: row! };
}
