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

export async function registerDeveloper(deps: Deps, input: RegisterDeveloperInput) {
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
    if (isUniqueViolation(err)) throw conflict('That email or username is already registered');
    throw err;
  }
}

export const isUniqueViolation = (err: unknown): boolean => sqlStateOf(err) === '23505';
