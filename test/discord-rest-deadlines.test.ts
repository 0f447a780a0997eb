import { createServer, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordApi } from '../src/discord/discord-api.js';

/**
 * A Discord (or a proxy) that sends the status line and headers at once, then the body a byte at
 * a time. @discordjs/rest's `timeout` ends at the headers and undici's `bodyTimeout` is between
 * two chunks: without an overall deadline such a call never settles.
 */
const APP_ID = '800000000000000001';
let server: Server;
let apiUrl: string;
const open: ServerResponse[] = [];
const timers: NodeJS.Timeout[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      open.push(res);
      const callback = /\/callback$/.test(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write(callback ? ' ' : '{');
      timers.push(setInterval(() => res.write(' '), 100));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
});
afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const r of open) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const DEADLINES = { callMs: 600, callbackMs: 600, uploadMs: 600 };
const api = () => new DiscordApi(APP_ID, { apiUrl, token: 'test-bot-token-0123456789', deadlines: DEADLINES });

/** The call's error message, or 'pending' if it has not settled within `ms`. */
const failureWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => 'resolved',
      (err: Error) => err.message,
    ),
    new Promise<string>((r) => setTimeout(() => r('pending'), ms)),
  ]);

describe('a REST answer whose body trickles in fails at the call’s deadline', () => {
  it.each([
    ['a bot-token call (a channel post)', () => api().postMessage('900000000000000001', { content: 'log line' })],
    ['a DM', () => api().sendDm('100000000000000051', { content: 'hi' })],
    ['a role grant (204 expected)', () => api().addRole('900000000000000001', '100000000000000051', '900000000000000003', 'plan')],
    ['the interaction callback', () => api().respond('1300000000000000001', 'itoken-a', { type: 1 })],
    ['a follow-up', () => api().followUp('itoken-b', { content: 'hi' })],
    ['an edit of the original', () => api().editOriginal('itoken-c', { content: 'hi' })],
    [
      'a streamed upload',
      () => api().editOriginalWithStream('itoken-d', { content: 'export' }, { name: 'export.csv', contentType: 'text/csv', size: 3, open: () => Readable.from([Buffer.from('a,b')]) }),
    ],
  ])('%s', async (_what, call) => {
    expect(await failureWithin(call(), 3000)).toMatch(/within 600 ms/);
  });
});
