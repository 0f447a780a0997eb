import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Logger } from '../log.js';
import { rowsOf, type Db } from './client.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** An arbitrary constant: every Keycord instance takes the same advisory lock to migrate. */
const MIGRATION_LOCK_ID = 0x6b63_6d67; // "kcmg"

interface JournalEntry {
  idx: number;
  tag: string;
}

/**
 * The database holds migrations this build does not have. Numbered past this build's latest, a
 * newer Keycord ran on it; numbered among its own, they come from another build (a migration
 * renamed or squashed, a branch). Either way this build would read and write a schema it does
 * not know (columns it leaves out, constraints it breaks), so start-up stops before touching
 * anything, and says which of the two it is.
 */
export class DatabaseFromNewerKeycordError extends Error {
  constructor(
    readonly unknownTags: string[],
    readonly newer: boolean,
  ) {
    const count = `${unknownTags.length} migration${unknownTags.length === 1 ? '' : 's'}`;
    super(
      newer
        ? `The database was migrated by a newer Keycord (${count} this build does not know, latest ${unknownTags.at(-1)}): run that version or newer.`
        : `The database has ${count} this build does not know (${unknownTags.slice(0, 3).join(', ')}${unknownTags.length > 3 ? ', …' : ''}), numbered among its own: ` +
            'it was migrated by another build of Keycord (a migration renamed or squashed, or another branch). Run the build that migrated it.',
    );
    this.name = 'DatabaseFromNewerKeycordError';
  }
}

/** The number a drizzle-kit tag starts with (`0021_name` → 21); NaN for anything else. */
const tagNumber = (tag: string) => Number(/^(\d+)_/.exec(tag)?.[1] ?? Number.NaN);

export interface MigrationOptions {
  dir?: string;
  /** Where to report progress ("migration 3/6: …"), so a long first start shows where it is. */
  log?: Logger;
}

/**
 * Applies the drizzle-kit SQL migrations not yet applied, all in one transaction under a Postgres
 * advisory lock, so several instances starting together migrate exactly once. A database that
 * has applied migrations this build does not have is refused (DatabaseFromNewerKeycordError).
 */
export async function runMigrations(db: Db, options: MigrationOptions = {}): Promise<string[]> {
  const dir = options.dir ?? MIGRATIONS_DIR;
  const journal = JSON.parse(readFileSync(join(dir, 'meta', '_journal.json'), 'utf8')) as {
    entries: JournalEntry[];
  };
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  const { log } = options;
  const applied = await db.orm.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`);
    await tx.execute(sql`create table if not exists keycord_migrations (
      tag text primary key,
      applied_at timestamptz not null default now()
    )`);
    const done = new Set(rowsOf<{ tag: string }>(await tx.execute(sql`select tag from keycord_migrations`)).map((r) => r.tag));
    // Answered by the query above: a normal start pays nothing for it.
    const known = new Set(entries.map((entry) => entry.tag));
    // drizzle-kit tags start with their zero-padded index: in order, the last is the latest.
    const unknown = [...done].filter((tag) => !known.has(tag)).sort();
    if (unknown.length) {
      const latestKnown = Math.max(-1, ...entries.map((entry) => tagNumber(entry.tag)).filter((n) => !Number.isNaN(n)));
      throw new DatabaseFromNewerKeycordError(
        unknown,
        unknown.every((tag) => tagNumber(tag) > latestKnown),
      );
    }
    const pending = entries.filter((entry) => !done.has(entry.tag));
    const ran: string[] = [];
    for (const entry of pending) {
      log?.info({ migration: entry.tag }, `migration ${ran.length + 1}/${pending.length}: ${entry.tag}`);
      const text = readFileSync(join(dir, `${entry.tag}.sql`), 'utf8');
      for (const statement of text.split('--> statement-breakpoint')) {
        if (statement.trim()) await tx.execute(sql.raw(statement));
      }
      await tx.execute(sql`insert into keycord_migrations (tag) values (${entry.tag})`);
      ran.push(entry.tag);
    }
    return ran;
  });
  if (applied.length) log?.info({ migrations: applied.length }, `database ready: ${applied.length} migration${applied.length === 1 ? '' : 's'} applied`);
  else log?.info({ migrations: entries.length }, 'database ready: schema up to date');
  return applied;
}
