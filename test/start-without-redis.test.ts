import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/databases.js';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';

let keycord: KeycordProcess | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
afterAll(async () => {
  if (keycord && keycord.child.exitCode === null && keycord.child.signalCode === null) keycord.child.kill('SIGKILL');
  await database?.drop();
});

/** tcpmux: a privileged port no service here uses, outside the range ports are handed out from. */
const DEAD_PORT = 1;

/** The error code of a TCP connect to 127.0.0.1:`port` (undefined when it connects). */
const connectError = (port: number) =>
  new Promise<string | undefined>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(undefined)));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });

describe('keycord start while Redis is down', () => {
  it('listens and serves the API at once, reports degraded health, and still stops cleanly', { timeout: 90_000 }, async () => {
    database = await createTestDatabase();
    // A port nothing listens on: Redis is "down" for the whole life of the process. Not a port
    // freePort() hands out: that one is in the ephemeral range, where another test's redis-server
    // may start on it meanwhile, and where a reconnecting client can even connect to itself.
    const redisPort = DEAD_PORT;
    expect(await connectError(redisPort), `something listens on 127.0.0.1:${redisPort}`).toBe('ECONNREFUSED');
    keycord = await startKeycordProcess({
      DATABASE_URL: database.url,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      KEYCORD_SECRET: 'no-redis-test-secret-0123456789abcdef0123',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
    });
    const health = await keycord.call('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'degraded', checks: { database: 'ok', redis: 'down' } });

    const reg = await keycord.call('POST', '/api/auth/register', { email: 'noredis@example.test', username: 'noredis', password: 'a long enough password' });
    expect(reg.status, reg.text).toBe(201);
    const app = await keycord.call('POST', '/api/applications', { name: 'No Redis' }, reg.body.token);
    expect(app.status).toBe(201);
    // A bulk job is accepted and waits (its outbox row is in the database) until Redis answers.
    const plan = await keycord.call('POST', '/api/plans/', { application_id: app.body.id, name: 'Monthly', duration_days: 30 }, reg.body.token);
    const job = await keycord.call('POST', '/api/licenses/generate', { plan_id: plan.body.id, count: 2000, format: 'random' }, reg.body.token);
    expect(job.status).toBe(202);
    expect(job.body.job).toMatchObject({ status: 'queued' });
    expect(keycord.output()).toMatch(/REDIS UNREACHABLE/);

    keycord.child.kill('SIGTERM');
    const { code } = await keycord.exited;
    expect(code, keycord.output()).toBe(0);
  });
});
