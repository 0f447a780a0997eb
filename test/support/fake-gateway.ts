/**
 * A Discord gateway stand-in (REST /gateway/bot plus a websocket server) for shard-level tests:
 * READY per IDENTIFY, RESUMED per RESUME (unless `hangResumeOfShard`), and which shard each socket
 * and session belongs to. Everything on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export const APP_ID = '800000000000000001';
export interface Fake {
  apiUrl: string;
  shards: number;
  sockets: WebSocket[];
  identifies: number[];
  resumes: { seq: number; session: string }[];
  callbacks: string[];
  seq: number;
  shardOf: Map<WebSocket, number>;
  sessionShard: Map<string, number>;
  hangResumeOfShard: number | undefined;
  refuseUpgrades: boolean;
  upgrades: number;
  dispatch(ws: WebSocket, t: string, d: unknown): void;
  close(): Promise<void>;
}

export async function startFake(shards = 1): Promise<Fake> {
  const state = {
    shards,
    sockets: [],
    identifies: [],
    resumes: [],
    callbacks: [],
    seq: 0,
    shardOf: new Map(),
    sessionShard: new Map(),
    hangResumeOfShard: undefined,
    refuseUpgrades: false,
    upgrades: 0,
  } as unknown as Fake;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      if (path === '/api/v10/gateway/bot') {
        const { port } = server.address() as { port: number };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: `ws://127.0.0.1:${port}`, shards: state.shards, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } }));
        return;
      }
      if (/\/callback$/.test(path)) {
        state.callbacks.push(path);
        res.writeHead(204);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: '1', channel_id: '1', content: '', attachments: [] }));
    });
  });
  const wss = new WebSocketServer({
    server,
    verifyClient: (_info: unknown, cb: (ok: boolean, code?: number) => void) => {
      state.upgrades++;
      cb(!state.refuseUpgrades, 503);
    },
  });
  state.dispatch = (ws, t, d) => ws.send(JSON.stringify({ op: 0, t, s: ++state.seq, d }));
  wss.on('connection', (ws) => {
    state.sockets.push(ws);
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41250 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { op: number; d: any };
      if (msg.op === 1) ws.send(JSON.stringify({ op: 11 }));
      if (msg.op === 2) {
        state.identifies.push(Date.now());
        const { port } = server.address() as { port: number };
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
        state.shardOf.set(ws, msg.d.shard?.[0] ?? 0);
        state.sessionShard.set(ready.session_id, msg.d.shard?.[0] ?? 0);
        state.dispatch(ws, 'READY', ready);
      }
      if (msg.op === 6) {
        state.resumes.push({ seq: msg.d.seq, session: msg.d.session_id });
        const shard = state.sessionShard.get(msg.d.session_id);
        if (shard !== undefined) state.shardOf.set(ws, shard);
        if (shard === state.hangResumeOfShard) return;
        state.dispatch(ws, 'RESUMED', null);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
  state.close = async () => {
    for (const ws of state.sockets) ws.terminate();
    wss.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
