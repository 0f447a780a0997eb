import { Writable } from 'node:stream';
import { InteractionResponseType, MessageFlags } from 'discord-api-types/v10';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordBot } from '../src/discord/bot.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import { createLogger } from '../src/log.js';
import { startScriptedDiscord } from './support/discord-stub.js';

/**
 * A follow-up told to wait out a long rate limit fails with @discordjs/rest's RateLimitError, which
 * the bot logs: its `majorParameter` is "<application id>/<interaction token>" (a token that
 * answers for the interaction for 15 minutes). The serializer drops it, as it redacts the url.
 */
const APP_ID = '800000000000000001';
let discord: Awaited<ReturnType<typeof startScriptedDiscord>>;
beforeAll(async () => {
  discord = await startScriptedDiscord((method, path) => {
    if (method === 'POST' && path.startsWith(`/api/v10/webhooks/${APP_ID}/`)) {
      return { status: 429, body: { message: 'You are being rate limited.', retry_after: 60, global: false }, headers: { 'retry-after': '60' } };
    }
    return undefined;
  });
});
afterAll(() => discord?.close());

describe('a follow-up refused for a long rate limit', () => {
  it('is logged without the interaction token', async () => {
    const lines: string[] = [];
    const log = createLogger(
      'info',
      new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const api = new DiscordApi(APP_ID, { apiUrl: discord.apiUrl, token: 'test-bot-token-0123456789' });
    const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
    const token = 'aW50ZXJhY3Rpb246MTMwMDAwMDAwMDAwMDAwMDAwMzpzZWNyZXRzZWNyZXQ';
    bot.runAfter(
      { response: { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } }, after: async () => void (await api.followUp(token, { content: 'hi' })) },
      token,
    );
    await bot.idle();
    const logged = lines.join('');
    expect(logged).toContain('discord interaction failed');
    expect(logged).not.toContain(token);
  }, 20_000);
});
