import { afterAll, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import { DiscordBot } from '../src/discord/bot.js';
import type { Logger } from '../src/log.js';
import { APP_ID, startFake, type Fake } from './support/fake-gateway.js';

/**
 * /api/health's `discord` with two shards: ok only while both are up. One flag for all once said ok
 * after shard 0's ordinary reconnect while shard 1 could not resume (half the guilds unanswered).
 */
const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn(), fatal: vi.fn() };
let fake: Fake;
let adapter: GatewayAdapter | undefined;
afterAll(async () => {
  await adapter?.stop();
  await fake?.close();
});
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 5000) {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await wait(20);
  return check();
}

describe('two shards, one of them down', () => {
  it('health says down while shard 1 cannot resume', async () => {
    fake = await startFake(2);
    const api = new DiscordApi(APP_ID, { apiUrl: fake.apiUrl, token: 'test-bot-token-0123456789' });
    const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
    adapter = new GatewayAdapter(bot, log as unknown as Logger);
    void adapter.start('test-bot-token-0123456789', fake.apiUrl);
    expect(await until(() => log.info.mock.calls.some(([, m]) => m === 'Discord gateway connected'), 15_000)).toBe(true);
    expect(await until(() => adapter!.health() === 'ok')).toBe(true);
    const socketOf = (shard: number) =>
      [...fake.shardOf]
        .filter(([ws, s]) => s === shard && ws.readyState === 1)
        .map(([ws]) => ws)
        .at(-1)!;
    fake.hangResumeOfShard = 1;
    socketOf(1).terminate(); // shard 1 drops; its resume is never answered
    expect(await until(() => adapter!.health() === 'down', 2000)).toBe(true);
    socketOf(0).send(JSON.stringify({ op: 7, d: null })); // an ordinary reconnect of shard 0
    await until(() => fake.resumes.filter((r) => fake.sessionShard.get(r.session) === 0).length === 1, 5000);
    await wait(1000);
    // Shard 1 (half the guilds) takes no interaction.
    expect(adapter.health()).toBe('down');
  }, 30_000);
});
