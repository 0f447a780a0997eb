import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../src/db/client.js';
import { DatabaseFromNewerKeycordError, runMigrations } from '../src/db/migrate.js';
import { createTestDatabase } from './support/databases.js';
import { embeddedDatabaseState, exitOf, fatalLines, spawnKeycordProcess, type SpawnedKeycord } from './support/keycord-process.js';

const SECRET = 'newer-db-test-secret-0123456789abcdef012345';
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keycord-newer-db-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A migrations folder as drizzle-kit writes it: the journal and one SQL file per entry. */
function migrationsDir(migrations: Record<string, string>): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'meta'));
  const entries = Object.keys(migrations).map((tag, idx) => ({ idx, tag }));
  writeFileSync(join(dir, 'meta', '_journal.json'), JSON.stringify({ entries }));
  for (const [tag, text] of Object.entries(migrations)) writeFileSync(join(dir, `${tag}.sql`), text);
  return dir;
}

/** What a newer Keycord leaves behind: its migrations recorded as applied. */
async function recordNewerMigrations(db: Db, tags: string[]) {
  for (const tag of tags) await db.query('insert into keycord_migrations (tag) values ($1)', [tag]);
}

// Numbered past any migration this build will ship, so the test holds as migrations are added.
const NEWER = ['9998_from_a_newer_keycord', '9999_newer_still'];
const REFUSAL = /migrated by a newer Keycord \(2 migrations this build does not know, latest 9999_newer_still\): run that version or newer/;

/** `keycord start` exits 1 with the refusal as its one fatal line, and no stack trace. */
async function expectRefusedInOneLine(keycord: SpawnedKeycord) {
  const { code } = await exitOf(keycord);
  const output = keycord.output();
  expect(code, output).toBe(1);
  const fatal = fatalLines(output);
  expect(fatal, output).toHaveLength(1);
  expect(fatal[0]!.msg).toMatch(REFUSAL);
  expect(output).not.toMatch(/"stack"|\n\s+at |\\n\s+at /);
}

describe('a database migrated by a newer Keycord', () => {
  it('is refused before anything is applied, naming how many migrations are unknown and the latest', { timeout: 60_000 }, async () => {
    const db = await createDb({ dataDir: tempDir() });
    cleanups.push(() => db.close());
    await runMigrations(db, { dir: migrationsDir({ '0000_a': 'create table a (id int)' }) });
    await recordNewerMigrations(db, NEWER);
    // This build has one migration the database lacks: it must not run against the newer schema.
    const older = migrationsDir({ '0000_a': 'create table a (id int)', '0001_b': 'create table b (id int)' });
    const refused = await runMigrations(db, { dir: older }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DatabaseFromNewerKeycordError);
    expect((refused as Error).message).toMatch(REFUSAL);
    expect(await db.query(`select to_regclass('b') as b`)).toEqual([{ b: null }]);
    // A build that knows them all starts as before.
    const current = migrationsDir({ '0000_a': 'create table a (id int)', [NEWER[0]!]: 'select 1', [NEWER[1]!]: 'select 1' });
    expect(await runMigrations(db, { dir: current })).toEqual([]);
  });

  it("is told apart from a database with a migration numbered among this build's own (renamed, squashed, another branch)", { timeout: 60_000 }, async () => {
    const db = await createDb({ dataDir: tempDir() });
    cleanups.push(() => db.close());
    await runMigrations(db, { dir: migrationsDir({ '0000_a': 'create table a (id int)' }) });
    await recordNewerMigrations(db, ['0001_from_a_branch']);
    const sibling = migrationsDir({ '0000_a': 'create table a (id int)', '0001_b': 'create table b (id int)', '0002_c': 'create table c (id int)' });
    const refused = await runMigrations(db, { dir: sibling }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DatabaseFromNewerKeycordError);
    expect((refused as Error).message).toContain('0001_from_a_branch');
    expect((refused as Error).message).toContain('another build of Keycord');
    expect((refused as Error).message).not.toContain('newer');
    expect(await db.query(`select to_regclass('b') as b`)).toEqual([{ b: null }]);
  });

  it('stops keycord start on Postgres with one fatal line and exit code 1', { timeout: 90_000 }, async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      for (const tag of NEWER) await sql`insert into keycord_migrations (tag) values (${tag})`;
    } finally {
      await sql.end();
    }
    const keycord = await spawnKeycordProcess({ DATABASE_URL: database.url, REDIS_URL: undefined, KEYCORD_SECRET: SECRET, NODE_ENV: 'test', LOG_LEVEL: 'info', DATA_DIR: tempDir() });
    await expectRefusedInOneLine(keycord);
  });

  it('stops keycord start on the embedded database the same way, and closes it cleanly', { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    const db = await createDb({ dataDir });
    await runMigrations(db);
    await recordNewerMigrations(db, NEWER);
    await db.close();
    const keycord = await spawnKeycordProcess({ DATABASE_URL: undefined, REDIS_URL: undefined, KEYCORD_SECRET: SECRET, NODE_ENV: 'development', LOG_LEVEL: 'info', DATA_DIR: dataDir });
    await expectRefusedInOneLine(keycord);
    // pg_control's state: 1 is "shut down" (see port-unavailable.test.ts).
    expect(embeddedDatabaseState(dataDir)).toBe(1);
  });
});
