import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InteractionResponseType, MessageFlags } from 'discord-api-types/v10';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startKeycord } from '../src/start-keycord.js';
import { createTestDatabase } from './support/databases.js';
import { TEST_SECRET } from './support/harness.js';

/**
 * `keycord start` (role all) in gateway mode against a stand-in for Discord on 127.0.0.1: the API
 * comes up whether or not Discord's gateway answers, and a stop waits for the interactions the
 * gateway took before it closes the database.
 */
const APP_ID = '800000000000000001';
let server: Server;
let wss: WebSocketServer;
let apiUrl: string;
const sockets: WebSocket[] = [];
/** `silent`: takes the websocket, never says Hello (an outage, a proxy); `hello`: works. */
let mode: 'silent' | 'hello' = 'silent';
let callbackDelayMs = 0;
const calls: { at: number; what: string }[] = [];
let seq = 0;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataDir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      calls.push({ at: Date.now(), what: `${req.method} ${path}` });
      const { port } = server.address() as { port: number };
      if (path === '/api/v10/gateway/bot') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: `ws://127.0.0.1:${port}`, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } }));
        return;
      }
      if (/\/callback$/.test(path)) {
        setTimeout(() => {
          res.writeHead(204);
          res.end();
        }, callbackDelayMs);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: '1', channel_id: '1', content: '', attachments: [] }));
    });
  });
  wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    sockets.push(ws);
    if (mode === 'silent') return;
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41250 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { op: number };
      if (msg.op !== 2) return;
      const { port } = server.address() as { port: number };
      const user = { id: APP_ID, username: 'keycord', discriminator: '0', bot: true, avatar: null };
      ws.send(JSON.stringify({ op: 0, t: 'READY', s: ++seq, d: { v: 10, user, guilds: [], session_id: 's', resume_gateway_url: `ws://127.0.0.1:${port}`, application: { id: APP_ID, flags: 0 } } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'keycord-test-gateway-'));
});
beforeEach(() => {
  calls.splice(0);
  callbackDelayMs = 0;
  for (const ws of sockets.splice(0)) ws.terminate();
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  wss?.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

const config = () =>
  loadConfig({
    DATABASE_URL: database.url,
    KEYCORD_SECRET: TEST_SECRET,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    DISCORD_MODE: 'gateway',
    DISCORD_TOKEN: 'test-bot-token-0123456789',
    DISCORD_APPLICATION_ID: APP_ID,
    DISCORD_API_URL: apiUrl,
  });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 5000) {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await wait(20);
  return check();
}
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still pending'>((r) => setTimeout(() => r('still pending'), ms))]);

describe('start-up in gateway mode', () => {
  it('serves the API while Discord’s gateway does not answer, and a stop ends the connection being made', async () => {
    mode = 'silent';
    const starting = startKeycord(config(), { role: 'all', jobs: 'none' });
    const keycord = await within(starting, 8000);
    if (keycord === 'still pending') {
      // The old start-up: unwind it as far as it lets us.
      void starting.then((k) => k.close()).catch(() => {});
      expect.fail('start-up waited on the Discord gateway');
    }
    try {
      const health = await keycord.app!.inject({ method: 'GET', url: '/api/health' });
      expect(health.statusCode).toBe(200);
      // Serving, and saying the bot is not connected.
      expect(health.json()).toMatchObject({ status: 'degraded', checks: { database: 'ok', discord: 'down' } });
      // The gateway goes on trying in the background.
      expect(await until(() => sockets.some((ws) => ws.readyState === 1))).toBe(true);
    } finally {
      expect(await within(keycord.close(), 8000)).toBeUndefined();
    }
    await wait(700);
    expect(sockets.filter((ws) => ws.readyState === 1)).toHaveLength(0);
  }, 30_000);
});

describe('a stop while a gateway interaction waits for its first answer', () => {
  it('waits for it, and for its follow-up, before closing the database', async () => {
    mode = 'hello';
    callbackDelayMs = 1000;
    const keycord = await startKeycord(config(), { role: 'all', jobs: 'none' });
    const followUps: string[] = [];
    vi.spyOn(keycord.bot!, 'handle').mockResolvedValue({
      response: { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } },
      after: async () => {
        // What a deferred command does next: the database, then an edit of the reply.
        await keycord.deps.db.query('select 1');
        followUps.push('ran');
      },
    });
    expect(await until(() => sockets.some((ws) => ws.readyState === 1) && calls.length > 0)).toBe(true);
    await wait(200);
    expect((await keycord.app!.inject({ method: 'GET', url: '/api/health' })).json()).toMatchObject({ status: 'ok', checks: { discord: 'ok' } });
    const d = { id: '1300000000000000009', token: 'itoken-stop', type: 2, application_id: APP_ID, user: { id: '100000000000000041', username: 'a' }, data: { name: 'generate' } };
    for (const ws of sockets) if (ws.readyState === 1) ws.send(JSON.stringify({ op: 0, t: 'INTERACTION_CREATE', s: ++seq, d }));
    expect(await until(() => calls.some((c) => c.what.endsWith('/callback')))).toBe(true);
    await keycord.close();
    expect(followUps).toEqual(['ran']);
  }, 30_000);
});
