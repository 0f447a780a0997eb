import { createServer, type Server } from 'node:http';
import { RateLimitError } from '@discordjs/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordApi } from '../src/discord/discord-api.js';

/**
 * A Discord stand-in that answers every DM-channel creation 429 with a minute-long retry_after (a
 * bucket Discord has closed for a while), and everything else 200.
 */
let server: Server;
let apiUrl: string;
const calls: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls.push(`${req.method} ${req.url}`);
      if (req.method === 'POST' && req.url === '/api/v10/users/@me/channels') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' });
        res.end(JSON.stringify({ message: 'You are being rate limited.', retry_after: 60, global: false }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: '1', channel_id: '1', content: '', attachments: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

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
