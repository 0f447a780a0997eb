import { inArray, or, sql } from 'drizzle-orm';
import { developers } from '../../db/schema.js';
import type { Deps } from '../deps.js';

/** The largest id a developer account can have (`serial`): a pin past it names no one. */
const MAX_ACCOUNT_ID = 2_147_483_647;

/**
 * The accounts KEYCORD_OPERATORS names, settled once, when the dashboard starts: an entry is an
 * account id (`#12`) or a username, and either counts only if an account had it then. Sign-up is
 * open, so a named operator who has not registered yet would otherwise hand the dashboard (job
 * payloads, retry and delete) to whoever takes the name first; the same goes for an id not yet
 * given out. Those entries are named in a warning and let no one in until the next start. Access
 * is then decided by account id, never by the name an account shows.
 */
export async function resolveOperators(deps: Deps, entries: string[]): Promise<Set<number>> {
  const pinned = entries.filter((e) => e.startsWith('#')).map((e) => Number(e.slice(1)));
  const names = entries.filter((e) => !e.startsWith('#'));
  const ids = pinned.filter((id) => id <= MAX_ACCOUNT_ID);
  const byId = ids.length ? inArray(developers.id, ids) : undefined;
  const byName = names.length ? inArray(sql`lower(${developers.username})`, names) : undefined;
  const found = byId || byName ? await deps.db.orm.select({ id: developers.id, username: developers.username }).from(developers).where(or(byId, byName)) : [];
  const missing = entries.filter((e) => !found.some((d) => (e.startsWith('#') ? `#${d.id}` === e : d.username.toLowerCase() === e)));
  if (missing.length) {
    deps.log.warn(
      { unregistered: missing },
      `KEYCORD_OPERATORS names ${missing.join(', ')}, which no account had when Keycord started: ` +
        'they open no queue dashboard, so whoever signs up with such a name or gets such an id later gets nothing. ' +
        'Once the operator has registered, check the account is theirs and restart, or name it by its id (#<id>).',
    );
  }
  if (found.length) deps.log.info({ operators: found.map((d) => `${d.username} (#${d.id})`) }, 'queue dashboard operators');
  return new Set(found.map((d) => d.id));
}
