import postgres from 'postgres';
import { createDb } from '../../src/db/client.js';
import { runMigrations } from '../../src/db/migrate.js';
import { ADMIN_URL, databaseUrl, prepareAdminDatabase, templateName } from './databases.js';

/**
 * Builds the migrated template database once per run (when the migrations changed); every test
 * file then clones it with CREATE DATABASE … TEMPLATE, which takes milliseconds.
 */
export default async function setup() {
  await prepareAdminDatabase();
  const name = templateName();
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    // Several runs may start together (CI and a developer): one builds, the others wait.
    await admin.unsafe(`select pg_advisory_lock(8675309)`);
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) {
      const building = `${name}_building`;
      await admin.unsafe(`drop database if exists ${building} with (force)`);
      await admin.unsafe(`create database ${building}`);
      const db = await createDb({ databaseUrl: databaseUrl(building), dataDir: '/nonexistent', poolSize: 1 });
      await runMigrations(db);
      await db.close();
      await admin.unsafe(`alter database ${building} rename to ${name}`);
    }
    // Leftovers from runs that were killed before their files dropped their databases.
    const databases = await admin`select datname from pg_database where datname like 'keycord_t_%'`;
    const hourAgo = Date.now() / 1000 - 3600;
    for (const { datname } of databases) {
      const created = Number(String(datname).split('_')[2]);
      if (created < hourAgo) await admin.unsafe(`drop database if exists ${datname as string} with (force)`);
    }
  } finally {
    await admin.unsafe(`select pg_advisory_unlock(8675309)`).catch(() => {});
    await admin.end();
  }
}
