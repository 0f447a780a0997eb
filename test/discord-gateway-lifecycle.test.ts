import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InteractionResponseType, MessageFlags } from 'discord-api-types/v10';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startKeycord } from '../src/start-keycord.js';
import { createTestDatabase } from './support/databases.js';
import { APP_ID, startFakeGateway, type FakeGateway, until, wait } from './support/fake-gateway.js';
import { TEST_SECRET } from './support/harness.js';

/**
 * `keycord start` (role all) in gateway mode against a stand-in for Discord on 127.0.0.1: the API
 * comes up whether or not Discord's gateway answers, and a stop waits for the interactions the
 * gateway took before it closes the database.
 */
let discord: FakeGateway;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataDir: string;

beforeAll(async () => {
  discord = await startFakeGateway({ mode: 'silent' });
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'keycord-test-gateway-'));
});
beforeEach(() => {
  discord.calls.splice(0);
  discord.callbackDelayMs = 0;
  for (const ws of discord.sockets.splice(0)) ws.terminate();
});
afterAll(async () => {
  await discord?.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

const config = () =>
  loadConfig({
    DATABASE_URL: database.url,
    KEYCORD_SECRET: TEST_SECRET,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    DISCORD_MODE: 'gateway',
    DISCORD_TOKEN: 'test-bot-token-0123456789',
    DISCORD_APPLICATION_ID: APP_ID,
    DISCORD_API_URL: discord.apiUrl,
  });
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still pending'>((r) => setTimeout(() => r('still pending'), ms))]);

describe('start-up in gateway mode', () => {
  it('serves the API while Discord’s gateway does not answer, and a stop ends the connection being made', async () => {
    discord.mode = 'silent';
    const starting = startKeycord(config(), { role: 'all', jobs: 'none' });
    const keycord = await within(starting, 8000);
    if (keycord === 'still pending') {
      // The old start-up: unwind it as far as it lets us.
      void starting.then((k) => k.close()).catch(() => {});
      expect.fail('start-up waited on the Discord gateway');
    }
    try {
      const health = await keycord.app!.inject({ method: 'GET', url: '/api/health' });
      expect(health.statusCode).toBe(200);
      // Serving, and saying the bot is not connected.
      expect(health.json()).toMatchObject({ status: 'degraded', checks: { database: 'ok', discord: 'down' } });
      // The gateway goes on trying in the background.
      expect(await until(() => discord.sockets.some((ws) => ws.readyState === 1))).toBe(true);
    } finally {
      expect(await within(keycord.close(), 8000)).toBeUndefined();
    }
    await wait(700);
    expect(discord.sockets.filter((ws) => ws.readyState === 1)).toHaveLength(0);
  }, 30_000);
});

describe('a stop while a gateway interaction waits for its first answer', () => {
  it('waits for it, and for its follow-up, before closing the database', async () => {
    discord.mode = 'hello';
    discord.callbackDelayMs = 1000;
    const keycord = await startKeycord(config(), { role: 'all', jobs: 'none' });
    const followUps: string[] = [];
    vi.spyOn(keycord.bot!, 'handle').mockResolvedValue({
      response: { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } },
      after: async () => {
        // What a deferred command does next: the database, then an edit of the reply.
        await keycord.deps.db.query('select 1');
        followUps.push('ran');
      },
    });
    expect(await until(() => discord.sockets.some((ws) => ws.readyState === 1) && discord.calls.length > 0)).toBe(true);
    await wait(200);
    expect((await keycord.app!.inject({ method: 'GET', url: '/api/health' })).json()).toMatchObject({ status: 'ok', checks: { discord: 'ok' } });
    const d = { id: '1300000000000000009', token: 'itoken-stop', type: 2, application_id: APP_ID, user: { id: '100000000000000041', username: 'a' }, data: { name: 'generate' } };
    discord.dispatch('INTERACTION_CREATE', d);
    expect(await until(() => discord.calls.some((c) => c.what.endsWith('/callback')))).toBe(true);
    await keycord.close();
    expect(followUps).toEqual(['ran']);
  }, 30_000);
});
