import { createServer, type Server } from 'node:http';
import { RateLimitError } from '@discordjs/rest';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayAdapter } from '../src/discord/adapters/gateway.js';
import { DiscordBot } from '../src/discord/bot.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import type { Logger } from '../src/log.js';

/**
 * A Discord (or a proxy in front of it) answering every call 429, with a Retry-After the test sets:
 * none, not a number, negative, zero, or long. @discordjs/rest tried a 429 without a usable wait
 * again at once, uncounted, for ever; the interaction callback waited out any wait it was told.
 */
const APP_ID = '800000000000000001';
let server: Server;
let apiUrl: string;
const requests = new Map<string, number>();
let retryAfter: string | null = null;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = `${req.method} ${(req.url ?? '').split('?')[0]}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (retryAfter !== null) headers['retry-after'] = retryAfter;
      res.writeHead(429, headers);
      res.end(JSON.stringify({ message: 'You are being rate limited.', global: false }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => requests.clear());

/** The call's outcome, or 'pending' if it has not settled within `ms` (a wait or a hot loop). */
const outcomeWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => 'resolved',
      (err: unknown) => (err instanceof RateLimitError ? 'RateLimitError' : `failed: ${String(err)}`),
    ),
    new Promise<string>((r) => setTimeout(() => r('pending'), ms)),
  ]);

describe('a 429 without a usable Retry-After fails the call after one try', () => {
  it.each([
    ['no Retry-After', null],
    ['Retry-After: abc', 'abc'],
    ['Retry-After: -5', '-5'],
    ['Retry-After: 0', '0'],
  ])('a bot-token call (a channel post), %s', async (_what, value) => {
    retryAfter = value;
    const api = new DiscordApi(APP_ID, { apiUrl, token: 'test-bot-token-0123456789' });
    expect(await outcomeWithin(api.postMessage('900000000000000001', { content: 'log line' }), 2000)).toBe('RateLimitError');
    expect(requests.get('POST /api/v10/channels/900000000000000001/messages')).toBe(1);
  });

  it.each([
    ['no Retry-After', null],
    ['Retry-After: abc', 'abc'],
  ])('an interaction follow-up, %s', async (_what, value) => {
    retryAfter = value;
    const api = new DiscordApi(APP_ID, { apiUrl });
    expect(await outcomeWithin(api.followUp('itoken-x', { content: 'hi' }), 2000)).toBe('RateLimitError');
    expect(requests.get(`POST /api/v10/webhooks/${APP_ID}/itoken-x`)).toBe(1);
  });

  it('the interaction callback, no Retry-After', async () => {
    retryAfter = null;
    const api = new DiscordApi(APP_ID, { apiUrl });
    expect(await outcomeWithin(api.respond('1300000000000000001', 'itoken-cb', { type: 1 }), 2000)).toBe('RateLimitError');
  });
});

describe('a long Retry-After on an interaction-token call', () => {
  it('the callback does not wait past Discord’s 3 s answer window: the gateway logs it and goes on', async () => {
    retryAfter = '4';
    const api = new DiscordApi(APP_ID, { apiUrl });
    expect(await outcomeWithin(api.respond('1300000000000000002', 'itoken-long', { type: 1 }), 2000)).toBe('RateLimitError');

    retryAfter = '3600';
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() };
    const bot = new DiscordBot({ deps: { log } as never, api, progressEveryMs: 1000 });
    const gateway = new GatewayAdapter(bot, log as unknown as Logger);
    const d = { id: '1300000000000000003', token: 'itoken-hour', type: 2, application_id: APP_ID, user: { id: '100000000000000041', username: 'a' }, data: { name: 'no-such-command' } };
    expect(await outcomeWithin(gateway.onRaw({ t: 'INTERACTION_CREATE', d }), 2000)).toBe('resolved');
    expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ interaction: d.id }), 'could not answer an interaction');
  });

  it('a follow-up or an edit does not wait a minute either', async () => {
    retryAfter = '60';
    const api = new DiscordApi(APP_ID, { apiUrl });
    expect(await outcomeWithin(api.followUp('itoken-y', { content: 'hi' }), 2000)).toBe('RateLimitError');
    expect(await outcomeWithin(api.editOriginal('itoken-y', { content: 'hi' }), 2000)).toBe('RateLimitError');
  });
});
