import { sqlStateOf } from '../../db/sql-state.js';
import { developers } from '../../db/schema.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { hashPassword } from '../passwords.js';
import { toDeveloperView } from './developer-view.js';
import { issueToken } from './issue-token.js';

export interface RegisterDeveloperInput {
  email: string;
  username: string;
  password: string;
  ip?: string;
}

const TAKEN = () => conflict('That email or username is already registered');

/**
 * A taken email or username is refused before the password is hashed: Argon2 is the costly part
 * of a sign-up (19 MiB, two passes), and a flood of sign-ups with taken names must not cost one
 * each. Two sign-ups for the same free name at once both pass that look; the unique indexes then
 * refuse the second with the same 409.
 */
export async function registerDeveloper(deps: Deps, input: RegisterDeveloperInput) {
  if (await nameTaken(deps, input)) throw TAKEN();
  const passwordHash = await hashPassword(input.password);
  try {
    return await deps.db.orm.transaction(async (tx) => {
      const [developer] = await tx.insert(developers).values({ email: input.email, username: input.username, passwordHash }).returning();
      const expiresAt = new Date(deps.clock.now().getTime() + deps.limits.sessionTtlHours * 3600_000);
      const { token } = await issueToken(tx, developer!.id, 'session', { expiresAt });
      await writeAudit(
        tx,
        { kind: 'developer', developerId: developer!.id, name: developer!.username, via: 'session', tokenId: 0, ...(input.ip ? { ip: input.ip } : {}) },
        {
          action: 'developer.registered',
          target: `developer:${developer!.id}`,
        },
      );
      return { developer: toDeveloperView(developer!), token, expires_at: expiresAt.toISOString() };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw TAKEN();
    throw err;
  }
}

/** The look the unique indexes make (`lower(email)`, `lower(username)`), on those indexes. */
async function nameTaken(deps: Deps, input: Pick<RegisterDeveloperInput, 'email' | 'username'>): Promise<boolean> {
  const rows = await deps.db.query(`select 1 from developers where lower(email) = lower($1) or lower(username) = lower($2) limit 1`, [input.email, input.username]);
  return rows.length > 0;
}

export const isUniqueViolation = (err: unknown): boolean => sqlStateOf(err) === '23505';
