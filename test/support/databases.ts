import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';

/**
 * The server tests talk to: the real Postgres on this machine, as `postgres` with trust auth, or
 * TEST_DATABASE_URL. The database in the URL only serves to create and drop the test databases;
 * the global setup creates it when the server does not have it yet.
 */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function databaseUrl(name: string, server = ADMIN_URL): string {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The admin URL without its password, for messages. */
function describeServer(adminUrl: string): string {
  const url = new URL(adminUrl);
  return `${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}`;
}

/**
 * Makes sure the admin database of `adminUrl` exists, creating it from the server's `postgres`
 * database when it does not; a server that cannot be reached or refuses the login stops the run
 * with what the suite needs, instead of a bare ECONNREFUSED from every file.
 */
export async function prepareAdminDatabase(adminUrl = ADMIN_URL): Promise<void> {
  const name = decodeURIComponent(new URL(adminUrl).pathname.slice(1));
  const needs = `The tests need PostgreSQL at ${describeServer(adminUrl)} with a superuser login (the default is user postgres with trust auth on 127.0.0.1:5432; set TEST_DATABASE_URL=postgres://user:password@host:port/db to use another server)`;
  const probe = async (url: string) => {
    const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      await sql`select 1`;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  };
  try {
    await probe(adminUrl);
    return;
  } catch (err) {
    const code = (err as { code?: string }).code;
    // 3D000: the server answers but has no such database; anything else is the server or the login.
    if (code !== '3D000') throw new Error(`${needs}. Connecting failed: ${(err as Error).message}`, { cause: err });
  }
  const admin = postgres(databaseUrl('postgres', adminUrl), { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name.replace(/"/g, '""')}"`);
  } catch (err) {
    // Another run created it meanwhile (42P04: duplicate database): that is what we wanted.
    if ((err as { code?: string }).code !== '42P04') throw new Error(`${needs}. Creating database "${name}" failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await admin.end({ timeout: 1 }).catch(() => {});
  }
}

/** The template's name changes with the migrations, so a stale template is never reused. */
export function templateName(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIR).sort()) {
    if (file.endsWith('.sql')) hash.update(readFileSync(join(MIGRATIONS_DIR, file)));
  }
  return `keycord_tpl_${hash.digest('hex').slice(0, 12)}`;
}

/** A fresh database cloned from the migrated template: a file's tests share it, nobody else does. */
export async function createTestDatabase(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  // The creation time in the name lets a later run clean up after a killed one, and only that.
  const name = `keycord_t_${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${templateName()}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: databaseUrl(name),
    drop: async () => {
      const a = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
