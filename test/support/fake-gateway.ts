import { createServer, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A stand-in for Discord's gateway on 127.0.0.1: REST (`/gateway/bot`, interaction callbacks, 200
 * with a message for anything else) and the websocket, with READY per IDENTIFY and RESUMED per
 * RESUME. It records what the bot asked, and which shard each socket and session belongs to.
 */
export const APP_ID = '800000000000000001';

export interface FakeGateway {
  apiUrl: string;
  /**
   * `hello`: a gateway that works; `silent`: takes the websocket, never says Hello (an outage, a
   * proxy); `refuse`: REST answers 401; `4004`: REST takes the token, the gateway closes 4004 on
   * Identify (a token reset); `drop`: drops each websocket as soon as it opens.
   */
  mode: 'hello' | 'silent' | 'refuse' | '4004' | 'drop';
  /** How many shards `/gateway/bot` asks for. */
  shards: number;
  sockets: WebSocket[];
  /** Every REST call, as `METHOD /path`, with its time. */
  calls: { at: number; what: string }[];
  callbacks: { path: string; body: string }[];
  /** How long an interaction callback takes to be answered. */
  callbackDelayMs: number;
  gatewayFetches: number;
  identifies: number[];
  resumes: { seq: number; session: string }[];
  shardOf: Map<WebSocket, number>;
  sessionShard: Map<string, number>;
  /** A shard whose RESUME is never answered. */
  hangResumeOfShard: number | undefined;
  /** Websocket upgrades answered 503 (Discord refusing the connection). */
  refuseUpgrades: boolean;
  upgrades: number;
  /** A dispatch to `ws`, or to every open socket. */
  dispatch(t: string, d: unknown, ws?: WebSocket): void;
  closeAll(code: number): void;
  close(): Promise<void>;
}

export async function startFakeGateway(opts: { shards?: number; mode?: FakeGateway['mode'] } = {}): Promise<FakeGateway> {
  let seq = 0;
  const state = {
    mode: opts.mode ?? 'hello',
    shards: opts.shards ?? 1,
    sockets: [],
    calls: [],
    callbacks: [],
    callbackDelayMs: 0,
    gatewayFetches: 0,
    identifies: [],
    resumes: [],
    shardOf: new Map(),
    sessionShard: new Map(),
    hangResumeOfShard: undefined,
    refuseUpgrades: false,
    upgrades: 0,
  } as unknown as FakeGateway;
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      state.calls.push({ at: Date.now(), what: `${req.method} ${path}` });
      if (state.mode === 'refuse') return json(res, 401, { message: '401: Unauthorized', code: 0 });
      if (path === '/api/v10/gateway/bot') {
        state.gatewayFetches++;
        const { port } = server.address() as { port: number };
        return json(res, 200, { url: `ws://127.0.0.1:${port}`, shards: state.shards, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } });
      }
      if (/\/callback$/.test(path)) {
        state.callbacks.push({ path, body: Buffer.concat(chunks).toString('utf8') });
        setTimeout(() => {
          res.writeHead(204);
          res.end();
        }, state.callbackDelayMs);
        return;
      }
      json(res, 200, { id: '1', channel_id: '1', content: '', attachments: [] });
    });
  });
  const wss = new WebSocketServer({
    server,
    verifyClient: (_info: unknown, cb: (ok: boolean, code?: number) => void) => {
      state.upgrades++;
      cb(!state.refuseUpgrades, 503);
    },
  });
  const send = (ws: WebSocket, t: string, d: unknown) => ws.send(JSON.stringify({ op: 0, t, s: ++seq, d }));
  wss.on('connection', (ws) => {
    state.sockets.push(ws);
    if (state.mode === 'drop') ws.terminate();
    if (state.mode === 'silent' || state.mode === 'drop') return;
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41250 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { op: number; d: { shard?: [number, number]; seq: number; session_id: string } };
      if (msg.op === 1) ws.send(JSON.stringify({ op: 11 }));
      if (msg.op === 2 && state.mode === '4004') ws.close(4004, 'Authentication failed');
      else if (msg.op === 2) {
        state.identifies.push(Date.now());
        const { port } = server.address() as { port: number };
        const shard = msg.d.shard?.[0] ?? 0;
        const user = { id: APP_ID, username: 'keycord', discriminator: '0', bot: true, avatar: null };
        const ready = {
          v: 10,
          user,
          guilds: [],
          session_id: `session-${state.identifies.length}`,
          resume_gateway_url: `ws://127.0.0.1:${port}`,
          application: { id: APP_ID, flags: 0 },
          shard: msg.d.shard,
        };
        state.shardOf.set(ws, shard);
        state.sessionShard.set(ready.session_id, shard);
        send(ws, 'READY', ready);
      }
      if (msg.op === 6) {
        state.resumes.push({ seq: msg.d.seq, session: msg.d.session_id });
        const shard = state.sessionShard.get(msg.d.session_id);
        if (shard !== undefined) state.shardOf.set(ws, shard);
        if (shard === state.hangResumeOfShard) return;
        send(ws, 'RESUMED', null);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
  state.dispatch = (t, d, ws) => {
    for (const to of ws ? [ws] : state.sockets) if (to.readyState === 1) send(to, t, d);
  };
  state.closeAll = (code) => {
    for (const ws of state.sockets) ws.close(code, 'closed by test');
  };
  state.close = async () => {
    for (const ws of state.sockets) ws.terminate();
    wss.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `check` holds within `ms` (polled every 20 ms): for asserting on, where waitFor throws. */
export async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await wait(20);
  return check();
}
