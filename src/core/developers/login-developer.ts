import { eq, or, sql } from 'drizzle-orm';
import { developers } from '../../db/schema.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { unauthorized } from '../errors.js';
import { burnPasswordCheck, verifyPassword } from '../passwords.js';
import { toDeveloperView } from './developer-view.js';
import { issueToken } from './issue-token.js';

export interface LoginDeveloperInput {
  login: string;
  password: string;
  ip?: string;
}

/** One answer for an unknown login and a wrong password, in the same time, so neither leaks. */
export async function loginDeveloper(deps: Deps, input: LoginDeveloperInput) {
  const login = input.login.toLowerCase();
  const [developer] = await deps.db.orm
    .select()
    .from(developers)
    .where(or(eq(sql`lower(${developers.email})`, login), eq(sql`lower(${developers.username})`, login)))
    .limit(1);
  if (!developer) {
    await burnPasswordCheck(input.password);
    throw unauthorized('Invalid login or password');
  }
  if (!(await verifyPassword(developer.passwordHash, input.password))) throw unauthorized('Invalid login or password');
  const expiresAt = new Date(deps.clock.now().getTime() + deps.limits.sessionTtlHours * 3600_000);
  return deps.db.orm.transaction(async (tx) => {
    const { token, row } = await issueToken(tx, developer.id, 'session', { expiresAt });
    await writeAudit(
      tx,
      { kind: 'developer', developerId: developer.id, name: developer.username, via: 'session', tokenId: row.id, ...(input.ip ? { ip: input.ip } : {}) },
      {
        action: 'developer.logged_in',
        target: `developer:${developer.id}`,
      },
    );
    return { token, expires_at: expiresAt.toISOString(), developer: toDeveloperView(developer) };
  });
}
