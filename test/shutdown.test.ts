import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/databases.js';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';
import { flushRedisPrefix } from './support/redis.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUE_PREFIX = `kc-shutdown-${randomBytes(4).toString('hex')}`;

let keycord: KeycordProcess | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
afterAll(async () => {
  if (keycord && keycord.child.exitCode === null && keycord.child.signalCode === null) keycord.child.kill('SIGKILL');
  await flushRedisPrefix(REDIS_URL, QUEUE_PREFIX);
  await database?.drop();
});

describe('stopping keycord', () => {
  it('writes the buffered usage counters even when a request outlives the shutdown grace', { timeout: 90_000 }, async () => {
    database = await createTestDatabase();
    keycord = await startKeycordProcess(
      {
        DATABASE_URL: database.url,
        REDIS_URL,
        QUEUE_PREFIX,
        KEYCORD_SECRET: 'shutdown-test-secret-0123456789abcdef0123',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        // Nothing is flushed on its own during the test: only shutdown writes the usage.
        USAGE_FLUSH_MS: '60000',
        SHUTDOWN_GRACE_MS: '1000',
      },
      ['--role', 'api'],
    );
    const { call } = keycord;
    const reg = await call('POST', '/api/auth/register', { email: 'stop@example.test', username: 'stopper', password: 'a long enough password' });
    expect(reg.status, reg.text).toBe(201);
    const token = reg.body.token as string;
    const app = await call('POST', '/api/applications', { name: 'Stopping' }, token);
    const plan = await call('POST', '/api/plans/', { application_id: app.body.id, name: 'Monthly', duration_days: 30 }, token);
    const gen = await call('POST', '/api/licenses/generate', { plan_id: plan.body.id, count: 1, format: 'random' }, token);
    const key = gen.body.licenses[0].license_key as string;
    for (let i = 0; i < 3; i++) {
      const v = await call('POST', '/api/licenses/validate', { app_id: app.body.app_id, license_key: key, hwid: 'STOP-PC' });
      expect(v.body).toMatchObject({ success: true, code: 'VALID' });
    }

    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const logged = async () => (await sql`select coalesce(sum(count), 0)::int as n from validation_logs where application_id = ${app.body.id}`)[0]!.n as number;
      expect(await logged()).toBe(0);

      // A client that started a request and never finishes its body: the server cannot close in time.
      const slow = connect(Number(new URL(keycord.base).port), '127.0.0.1');
      await new Promise<void>((resolve) => slow.on('connect', resolve));
      slow.on('error', () => {});
      // `Expect: 100-continue`: the server says "100 Continue" once it has parsed the headers, so the
      // request is in flight before SIGTERM (a request the server first sees after SIGTERM is refused
      // with a 503 and does not hold the close, which made this test flaky).
      const continued = new Promise<void>((resolve) => {
        let seen = '';
        slow.on('data', (chunk: Buffer) => {
          seen += chunk.toString('latin1');
          if (seen.includes('100 Continue')) resolve();
        });
      });
      slow.write('POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\nExpect: 100-continue\r\n\r\n');
      await continued;
      slow.write('{"login":');

      keycord.child.kill('SIGTERM');
      const { code } = await keycord.exited;
      slow.destroy();
      expect(keycord.output()).toMatch(/shutdown grace ran out/);
      expect(code).toBe(1);

      expect(await logged()).toBe(3);
      const [license] = await sql`select last_used from licenses where license_key = ${key}`;
      expect(license!.last_used).not.toBeNull();
    } finally {
      await sql.end();
    }
  });
});
