import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import { DiscordBot } from '../src/discord/bot.js';
import type { Logger } from '../src/log.js';
import { APP_ID, startFakeGateway, type FakeGateway, until, wait } from './support/fake-gateway.js';

/**
 * The gateway adapter's connection against a stand-in for Discord's gateway (websocket) and REST
 * on 127.0.0.1: what it does when Discord is slow, down, refuses the token or closes for good,
 * and with interactions it gets over the websocket.
 */
const GUILD = '900000000000000001';
const TOKEN = 'test-bot-token-0123456789';

const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn(), fatal: vi.fn() };
let discord: FakeGateway;
const adapters: GatewayAdapter[] = [];

beforeAll(async () => {
  discord = await startFakeGateway();
});
beforeEach(() => {
  discord.mode = 'hello';
  discord.gatewayFetches = 0;
  discord.callbacks.splice(0);
  vi.clearAllMocks();
});
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.stop();
  for (const ws of discord.sockets.splice(0)) ws.terminate();
});
afterAll(async () => {
  await discord?.close();
});

function newAdapter(timings?: ConstructorParameters<typeof GatewayAdapter>[2]) {
  const api = new DiscordApi(APP_ID, { apiUrl: discord.apiUrl, token: TOKEN });
  const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
  const adapter = timings ? new GatewayAdapter(bot, log as unknown as Logger, timings) : new GatewayAdapter(bot, log as unknown as Logger);
  adapters.push(adapter);
  return adapter;
}

const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms)),
  ]);
const openSockets = () => discord.sockets.filter((ws) => ws.readyState === 1).length;
let next = 0n;
const snowflake = () => String(((BigInt(Date.now()) - 1_420_070_400_000n) << 22n) | (next++ & 4095n));
const interaction = (i: number, extra: Record<string, unknown> = {}) => ({
  id: snowflake(),
  application_id: APP_ID,
  type: 2,
  token: `itoken-${i}-${snowflake()}`,
  version: 1,
  guild_id: GUILD,
  channel_id: '900000000000000002',
  member: {
    user: { id: String(200000000000000000n + BigInt(i)), username: `u${i}`, discriminator: '0', avatar: null, global_name: null },
    roles: [],
    joined_at: '2024-01-01T00:00:00.000Z',
    deaf: false,
    mute: false,
    flags: 0,
    permissions: '0',
  },
  data: { id: '1', name: 'no-such-command', type: 1 },
  locale: 'en-US',
  app_permissions: '0',
  entitlements: [],
  authorizing_integration_owners: {},
  context: 0,
  ...extra,
});

describe('connecting', () => {
  it('a stop ends a connection still waiting for Discord (a gateway that never says Hello)', async () => {
    discord.mode = 'silent';
    const adapter = newAdapter();
    const starting = adapter.start(TOKEN, discord.apiUrl).catch(() => {});
    expect(await until(() => openSockets() > 0)).toBe(true);
    expect(await within(adapter.stop(), 8000)).toBe('settled');
    expect(await within(starting, 1000)).toBe('settled');
    // Closed, and not opened again after the stop.
    await wait(1500);
    expect(openSockets()).toBe(0);
  }, 20_000);

  it('tries again with back-off while Discord is not there, and connects once it is', async () => {
    discord.mode = 'silent';
    const adapter = newAdapter({ connectMs: 300, retryFirstMs: 50, retryMaxMs: 200 });
    void adapter.start(TOKEN, discord.apiUrl);
    expect(await until(() => discord.sockets.length >= 2)).toBe(true);
    expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ attempt: 1, retryInMs: 50 }), 'Discord gateway could not connect; trying again');
    // Health tells an operator the bot is not connected meanwhile.
    expect(adapter.health()).toBe('down');
    discord.mode = 'hello';
    expect(await until(() => log.info.mock.calls.some(([, msg]) => msg === 'Discord gateway connected'))).toBe(true);
    expect(await until(() => adapter.health() === 'ok')).toBe(true);
    // Connected: it answers interactions.
    const d = interaction(1);
    discord.dispatch('INTERACTION_CREATE', d);
    expect(await until(() => discord.callbacks.some((c) => c.path.includes(d.id)))).toBe(true);
  }, 20_000);

  it('a try given up, and a stop, leave no websocket behind (@discordjs/ws reconnects a dropped one on its own)', async () => {
    discord.mode = 'drop';
    const adapter = newAdapter({ connectMs: 400, retryFirstMs: 50, retryMaxMs: 50 });
    void adapter.start(TOKEN, discord.apiUrl);
    expect(await until(() => log.warn.mock.calls.filter(([, msg]) => msg === 'Discord gateway could not connect; trying again').length >= 2)).toBe(true);
    await adapter.stop();
    const connections = discord.sockets.length;
    await wait(1500);
    expect(discord.sockets.length).toBe(connections);
  }, 20_000);

  it('rejects start (and stops trying) when Discord refuses the token, logging it at error level', async () => {
    discord.mode = 'refuse';
    const adapter = newAdapter({ retryFirstMs: 50 });
    const outcome = await adapter.start(TOKEN, discord.apiUrl).then(
      () => 'started',
      (err: Error) => err.name,
    );
    expect(outcome).toBe('GatewayClosedError');
    expect(adapter.closedForGood?.code).toBe(401);
    expect(log.error).toHaveBeenCalledWith({ closeCode: 401 }, expect.stringContaining('DISCORD_TOKEN'));
    await wait(300);
    expect(discord.sockets).toHaveLength(0);
  });
});

describe('a gateway Discord closes for good', () => {
  it.each([
    [4004, 'DISCORD_TOKEN'],
    [4014, 'intents'],
  ])('close code %i is logged at error level with the code, kept in closedForGood, and not retried', async (code, says) => {
    const adapter = newAdapter({ retryFirstMs: 50 });
    await adapter.start(TOKEN, discord.apiUrl);
    expect(await until(() => log.info.mock.calls.some(([, msg]) => msg === 'Discord gateway connected'))).toBe(true);
    const connections = discord.sockets.length;
    discord.closeAll(code);
    expect(await until(() => log.error.mock.calls.length > 0)).toBe(true);
    expect(log.error).toHaveBeenCalledWith({ closeCode: code }, expect.stringContaining(says));
    expect(adapter.closedForGood?.code).toBe(code);
    // Not silent any more: /api/health reports the gateway down (degraded).
    expect(adapter.health()).toBe('down');
    await wait(700);
    expect(discord.sockets).toHaveLength(connections);
    expect(openSockets()).toBe(0);
  });

  it('a 4004 on the first Identify is reported the same way, and not retried', async () => {
    discord.mode = '4004';
    const adapter = newAdapter({ retryFirstMs: 50 });
    await adapter.start(TOKEN, discord.apiUrl);
    expect(await until(() => adapter.closedForGood !== undefined)).toBe(true);
    expect(adapter.closedForGood?.code).toBe(4004);
    expect(log.error).toHaveBeenCalledWith({ closeCode: 4004 }, expect.stringContaining('DISCORD_TOKEN'));
    await wait(500);
    expect(discord.sockets).toHaveLength(1);
  });
});

describe('interactions over the websocket', () => {
  it.each([
    ['a chat command with neither user nor member', { type: 2, data: { id: '1', name: 'licenses', type: 1 } }],
    ['a component interaction with no data', { type: 3 }],
  ])('%s is answered without an unhandled rejection or exception', async (_what, shape) => {
    const crashes: string[] = [];
    const onRejection = (err: unknown) => void crashes.push(`unhandledRejection: ${(err as Error)?.message}`);
    const onException = (err: unknown) => void crashes.push(`uncaughtException: ${(err as Error)?.message}`);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    try {
      const adapter = newAdapter();
      await adapter.start(TOKEN, discord.apiUrl);
      expect(await until(() => log.info.mock.calls.some(([, msg]) => msg === 'Discord gateway connected'))).toBe(true);
      const d = { id: snowflake(), token: `itoken-bad-${snowflake()}`, application_id: APP_ID, version: 1, ...shape };
      discord.dispatch('INTERACTION_CREATE', d);
      expect(await until(() => discord.callbacks.some((c) => c.path.includes(d.id)))).toBe(true);
      await wait(300);
      expect(crashes).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    }
  });

  it('keeps nothing of the customers who interacted (no user or member caches)', async () => {
    const adapter = newAdapter();
    await adapter.start(TOKEN, discord.apiUrl);
    expect(await until(() => log.info.mock.calls.some(([, msg]) => msg === 'Discord gateway connected'))).toBe(true);
    const N = 200;
    for (let i = 0; i < N; i++) discord.dispatch('INTERACTION_CREATE', interaction(i));
    expect(await until(() => discord.callbacks.length >= N, 10_000)).toBe(true);
    // Whatever the adapter holds, no discord.js cache of users or members is among it.
    const held = Object.values(adapter as unknown as Record<string, unknown>);
    const cached = held.reduce<number>((n, v) => {
      const client = v as { users?: { cache?: Map<string, unknown> }; guilds?: { cache?: Map<string, { members: { cache: Map<string, unknown> } }> } } | null;
      return n + (client?.users?.cache?.size ?? 0) + (client?.guilds?.cache?.get(GUILD)?.members.cache.size ?? 0);
    }, 0);
    expect(cached).toBe(0);
  }, 20_000);
});
