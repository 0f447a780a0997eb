import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { DiscordBot } from '../src/discord/bot.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import type { Logger } from '../src/log.js';
import { APP_ID, startFakeGateway, type FakeGateway, until, wait } from './support/fake-gateway.js';

/** The gateway's sessions once connected: what health says of each shard, and what an outage logs. */
const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn(), fatal: vi.fn() };
let fake: FakeGateway | undefined;
let adapter: GatewayAdapter | undefined;
afterEach(async () => {
  await adapter?.stop();
  await fake?.close();
  adapter = fake = undefined;
  vi.clearAllMocks();
});

/** A connected adapter on a fake gateway of `shards` shards. */
async function connected(shards: number): Promise<{ fake: FakeGateway; adapter: GatewayAdapter }> {
  fake = await startFakeGateway({ shards });
  const api = new DiscordApi(APP_ID, { apiUrl: fake.apiUrl, token: 'test-bot-token-0123456789' });
  const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
  adapter = new GatewayAdapter(bot, log as unknown as Logger);
  void adapter.start('test-bot-token-0123456789', fake.apiUrl);
  expect(await until(() => log.info.mock.calls.some(([, m]) => m === 'Discord gateway connected'), 15_000)).toBe(true);
  // Every shard: the second identifies 5 s after the first (@discordjs/ws's pace).
  expect(await until(() => adapter!.health() === 'ok', 15_000)).toBe(true);
  return { fake, adapter };
}

describe('two shards, one of them down', () => {
  /**
   * /api/health's `discord`: ok only while both are up. One flag for all once said ok after shard
   * 0's ordinary reconnect while shard 1 could not resume (half the guilds unanswered).
   */
  it('health says down while shard 1 cannot resume', async () => {
    const { fake, adapter } = await connected(2);
    const socketOf = (shard: number) =>
      [...fake.shardOf]
        .filter(([ws, s]) => s === shard && ws.readyState === 1)
        .map(([ws]) => ws)
        .at(-1)!;
    fake.hangResumeOfShard = 1;
    socketOf(1).terminate(); // shard 1 drops; its resume is never answered
    expect(await until(() => adapter.health() === 'down', 2000)).toBe(true);
    socketOf(0).send(JSON.stringify({ op: 7, d: null })); // an ordinary reconnect of shard 0
    await until(() => fake.resumes.filter((r) => fake.sessionShard.get(r.session) === 0).length === 1, 5000);
    await wait(1000);
    expect(adapter.health()).toBe('down');
  }, 30_000);
});

describe('a gateway outage after the first READY', () => {
  /**
   * A gateway that answers the websocket upgrade 503 (a Discord or Cloudflare outage) is retried by
   * @discordjs/ws itself, about every half second: each failure was a warn line. The first is
   * logged, then at most one a minute, with the count.
   */
  it('logs its errors once a minute, not each try', async () => {
    const { fake, adapter } = await connected(1);
    fake.refuseUpgrades = true;
    const before = fake.upgrades;
    fake.sockets[0]!.terminate();
    await wait(4_000);
    expect(fake.upgrades - before).toBeGreaterThan(2);
    expect(log.warn.mock.calls.filter(([, m]) => m === 'Discord gateway error')).toHaveLength(1);
    expect(adapter.health()).toBe('down');
  }, 20_000);
});

describe('a sharded bot', () => {
  /**
   * @discordjs/ws identifies one shard per 5 s (max_concurrency 1). A try that waited for every
   * shard's READY ran out of time from about 12 shards (scaled here: 2 shards, a 4 s try) and
   * identified shard 0 again on each new try. The try ends at the first session.
   */
  it('connects at its first shard’s session, and the others follow without identifying again', async () => {
    fake = await startFakeGateway({ shards: 2 });
    const api = new DiscordApi(APP_ID, { apiUrl: fake.apiUrl, token: 'test-bot-token-0123456789' });
    const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
    adapter = new GatewayAdapter(bot, log as unknown as Logger, { connectMs: 4_000, retryFirstMs: 100, retryMaxMs: 100 });
    void adapter.start('test-bot-token-0123456789', fake.apiUrl);
    expect(await until(() => log.info.mock.calls.some(([, m]) => m === 'Discord gateway connected'), 4_000)).toBe(true);
    // Until shard 1 is up too, health says so.
    expect(adapter.health()).toBe('down');
    expect(await until(() => adapter!.health() === 'ok', 12_000)).toBe(true);
    expect(fake.identifies).toHaveLength(2);
    expect(log.warn.mock.calls.filter(([, m]) => m === 'Discord gateway could not connect; trying again')).toHaveLength(0);
  }, 30_000);
});
