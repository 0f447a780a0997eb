import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/databases.js';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';

/**
 * `npm start` in a terminal or over SSH gets SIGHUP when that closes. Without a handler Node
 * died at once: no ordered shutdown, buffered usage not written, the embedded database left as
 * after a crash. It stops the way SIGTERM and SIGINT do.
 */
let keycord: KeycordProcess | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
afterAll(async () => {
  if (keycord && keycord.child.exitCode === null && keycord.child.signalCode === null) keycord.child.kill('SIGKILL');
  await database?.drop();
});

describe('SIGHUP (the terminal keycord start runs in was closed)', () => {
  it('stops through the ordered shutdown, exiting 0', { timeout: 60_000 }, async () => {
    database = await createTestDatabase();
    keycord = await startKeycordProcess({ DATABASE_URL: database.url, REDIS_URL: undefined, KEYCORD_SECRET: 'sighup-test-secret-0123456789abcdef0123456789', NODE_ENV: 'test', LOG_LEVEL: 'info' });
    expect((await keycord.call('GET', '/api/health')).status).toBe(200);
    keycord.child.kill('SIGHUP');
    const { code, signal } = await keycord.exited;
    expect({ code, signal }, keycord.output()).toEqual({ code: 0, signal: null });
    expect(keycord.output()).toMatch(/shutting down/);
  });
});
