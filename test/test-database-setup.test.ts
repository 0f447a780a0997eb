import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_URL, databaseUrl, prepareAdminDatabase } from './support/databases.js';
import { freePort } from './support/redis.js';

/*
 * What `npm test` needs of Postgres: a server it can log in to as a superuser. The database the
 * admin URL names (`test` by default) is created by the global setup when it is missing.
 */
const missing = `keycord_admin_${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${missing} with (force)`);
  await admin.end();
});

describe('the test suite’s Postgres', () => {
  it('gets its admin database created when the server does not have it', async () => {
    const url = databaseUrl(missing);
    await prepareAdminDatabase(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      expect((await sql`select current_database() as name`)[0]!.name).toBe(missing);
    } finally {
      await sql.end();
    }
    // A second run finds it there.
    await expect(prepareAdminDatabase(url)).resolves.toBeUndefined();
  });

  it('stops the run with what it needs when no Postgres answers', async () => {
    const port = await freePort();
    const error = await prepareAdminDatabase(`postgres://postgres@127.0.0.1:${port}/test`).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).toContain(`The tests need PostgreSQL at postgres@127.0.0.1:${port}`);
    expect(error?.message).toContain('TEST_DATABASE_URL');
    expect(error?.message).toContain('ECONNREFUSED');
  });
});
