import { InteractionResponseType, MessageFlags } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { DiscordBot } from '../src/discord/bot.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import type { Logger } from '../src/log.js';
import { startScriptedDiscord } from './support/discord-stub.js';

/**
 * A callback Discord took but whose answer was lost on the way back (a proxy's 502): the REST
 * client sends it again and Discord answers 400 / 40060 "already acknowledged". The first answer is
 * out, so the follow-up must run (else the deferred reply says "thinking…" until it expires).
 */
const APP_ID = '800000000000000001';
let discord: Awaited<ReturnType<typeof startScriptedDiscord>>;
let apiUrl: string;
let calls: string[];
let callbacks = 0;

beforeAll(async () => {
  discord = await startScriptedDiscord((_method, path) => {
    if (!/\/callback$/.test(path)) return undefined;
    if (++callbacks === 1) return { status: 502, body: '<html>502 Bad Gateway</html>' };
    return { status: 400, body: { message: 'Interaction has already been acknowledged.', code: 40060 } };
  });
  ({ apiUrl, calls } = discord);
});
afterAll(() => discord?.close());

describe('a callback answered 5xx, then "already acknowledged" on the retry', () => {
  it('counts as answered: the follow-up edits the deferred reply', async () => {
    const api = new DiscordApi(APP_ID, { apiUrl, token: 'test-bot-token-0123456789' });
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() };
    const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
    const token = 'itoken-retry';
    vi.spyOn(bot, 'handle').mockResolvedValue({
      response: { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } },
      after: async () => void (await api.editOriginal(token, { content: 'done' })),
    });
    const gateway = new GatewayAdapter(bot, log as unknown as Logger);
    const d = { id: '1300000000000000003', token, type: 2, application_id: APP_ID, user: { id: '100000000000000041', username: 'a' }, data: { name: 'generate' } };
    await gateway.onRaw({ t: 'INTERACTION_CREATE', d });
    await bot.idle();
    expect(calls.filter((c) => c.endsWith('/callback'))).toHaveLength(2);
    expect(calls).toContain(`PATCH /api/v10/webhooks/${APP_ID}/${token}/messages/@original`);
    expect(log.warn).not.toHaveBeenCalled();
  }, 20_000);
});
