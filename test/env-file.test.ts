import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/databases.js';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';
import { flushRedisPrefix } from './support/redis.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUE_PREFIX = `kc-dotenv-${randomBytes(4).toString('hex')}`;

let keycord: KeycordProcess | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let workDir: string | undefined;
afterAll(async () => {
  if (keycord && keycord.child.exitCode === null && keycord.child.signalCode === null) keycord.child.kill('SIGKILL');
  await flushRedisPrefix(REDIS_URL, QUEUE_PREFIX);
  await database?.drop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('a .env file in the working directory', () => {
  it('configures keycord start, and a variable set in the environment wins over the file', { timeout: 90_000 }, async () => {
    database = await createTestDatabase();
    workDir = mkdtempSync(join(tmpdir(), 'keycord-dotenv-'));
    const secret = `dotenv-secret-${randomBytes(16).toString('hex')}`;
    writeFileSync(
      join(workDir, '.env'),
      [
        '# what an operator keeps beside the service',
        `DATABASE_URL=${database.url}`,
        `KEYCORD_SECRET=${secret}`,
        `QUEUE_PREFIX=${QUEUE_PREFIX}`,
        // Overridden by the environment below: a port nobody may listen on.
        'PORT=1',
        'LOG_LEVEL=info',
      ].join('\n') + '\n',
    );
    // Nothing of the file's in the environment but PORT (which startKeycordProcess sets).
    keycord = await startKeycordProcess({ DATABASE_URL: undefined, KEYCORD_SECRET: undefined, QUEUE_PREFIX: undefined, LOG_LEVEL: undefined, REDIS_URL, NODE_ENV: 'production' }, [], { cwd: workDir });
    const output = keycord.output();
    expect(output).toContain(`read settings from ${join(workDir, '.env')}`);
    // The database, the secret and the queue prefix came from the file…
    expect(output).toContain(`using Postgres at 127.0.0.1:${new URL(database.url).port || 5432}/${database.name}`);
    expect(output).not.toMatch(/KEYCORD_SECRET is not set/);
    expect(output).not.toContain(secret);
    expect(output).toContain(`prefix ${QUEUE_PREFIX}`);
    // …and the port from the environment: it answers where the test told it to listen.
    expect((await keycord.call('GET', '/api/health')).body).toMatchObject({ checks: { database: 'ok' } });

    keycord.child.kill('SIGTERM');
    expect((await keycord.exited).code, keycord.output()).toBe(0);
  });
});
