import { afterAll, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import { DiscordBot } from '../src/discord/bot.js';
import type { Logger } from '../src/log.js';
import { APP_ID, startFake, type Fake } from './support/fake-gateway.js';

/**
 * Once READY, a gateway that answers the websocket upgrade 503 (a Discord or Cloudflare outage) is
 * retried by @discordjs/ws itself, about every half second: each failure was a warn line. The first
 * is logged, then at most one a minute, with the count.
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

describe('a gateway outage after the first READY', () => {
  it('logs its errors once a minute, not each try', async () => {
    fake = await startFake(1);
    const api = new DiscordApi(APP_ID, { apiUrl: fake.apiUrl, token: 'test-bot-token-0123456789' });
    const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
    adapter = new GatewayAdapter(bot, log as unknown as Logger);
    await adapter.start('test-bot-token-0123456789', fake.apiUrl);
    expect(await until(() => adapter!.health() === 'ok')).toBe(true);
    fake.refuseUpgrades = true;
    const before = fake.upgrades;
    fake.sockets[0]!.terminate();
    await wait(4_000);
    const tries = fake.upgrades - before;
    const warns = log.warn.mock.calls.filter(([, m]) => m === 'Discord gateway error').length;
    expect(tries).toBeGreaterThan(2);
    expect(warns).toBe(1);
    expect(adapter.health()).toBe('down');
  }, 20_000);
});
