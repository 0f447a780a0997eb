import { RateLimitError } from '@discordjs/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordApi } from '../src/discord/discord-api.js';
import { startScriptedDiscord } from './support/discord-stub.js';

/**
 * A Discord stand-in that answers every DM-channel creation 429 with a minute-long retry_after (a
 * bucket Discord has closed for a while), and everything else 200.
 */
let discord: Awaited<ReturnType<typeof startScriptedDiscord>>;
let apiUrl: string;
let calls: string[];
beforeAll(async () => {
  discord = await startScriptedDiscord((method, path) =>
    method === 'POST' && path === '/api/v10/users/@me/channels'
      ? { status: 429, headers: { 'retry-after': '60' }, body: { message: 'You are being rate limited.', retry_after: 60, global: false } }
      : undefined,
  );
  ({ apiUrl, calls } = discord);
});
afterAll(() => discord?.close());

describe('a bot-token call told to wait out a long rate limit', () => {
  it('fails at once instead of holding its caller (a notice, and with it its job and a stop) for the minute', async () => {
    const api = new DiscordApi('800000000000000001', { apiUrl, token: 'bot-token' });
    calls.splice(0);
    const failed = await api.sendDm('100000000000000051', { content: 'Your license expires soon.' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(RateLimitError);
    expect((failed as RateLimitError).retryAfter).toBeGreaterThanOrEqual(60_000);
    // Asked once; not tried again after the wait, and no message was sent.
    expect(calls).toEqual(['POST /api/v10/users/@me/channels']);
    // The client goes on with other routes.
    await api.postMessage('900000000000000001', { content: 'log line' });
    expect(calls).toEqual(['POST /api/v10/users/@me/channels', 'POST /api/v10/channels/900000000000000001/messages']);
  }, 20_000);
});
