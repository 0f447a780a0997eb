/**
 * The server side of `npm run bench:validate`, run as a child process so the load generator in
 * the parent does not take this process's CPU. It serves the real Keycord app plus one bare
 * route on the same database, then tells the parent its port over IPC.
 *
 * Environment: the usual Keycord variables (DATABASE_URL, KEYCORD_SECRET, DATABASE_POOL_SIZE, …).
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { ed25519Sign, responseMessage } from '../src/http/ed25519.js';
import { startKeycord } from '../src/start-keycord.js';

/** Garbage-collection pauses of the server's main thread since the last `gc-stats` request. */
export interface GcStats {
  pauses: number;
  totalMs: number;
  longestMs: number;
}

export type ServerMessage = { type: 'listening'; port: number } | { type: 'stopped' } | { type: 'profiling' } | { type: 'profiled'; file: string } | { type: 'gc-stats'; stats: GcStats };
export type ParentMessage = { type: 'stop' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string } | { type: 'gc-stats' };

const send = (message: ServerMessage) => process.send?.(message);

// GC pauses stop every request in flight, so they are the usual suspect for a p99 far above p50.
let gc: GcStats = { pauses: 0, totalMs: 0, longestMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.pauses++;
    gc.totalMs += entry.duration;
    gc.longestMs = Math.max(gc.longestMs, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

const config = loadConfig();
if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
// Keycord as `keycord start --role api` runs it: the same composition, limits and hooks.
const keycord = await startKeycord(config, { role: 'api' });
const app = keycord.app!;

// The baseline: what any Fastify route that reads one license costs. One indexed SELECT per
// request (the (application_id, license_key) unique index), key as a parameter, a pool of the
// same size as Keycord's, the row back as JSON — no batching, caching, validation or signing.
const bareSql = postgres(config.databaseUrl, { max: config.databasePoolSize, onnotice: () => {} });
app.post('/bench/bare', { schema: { hide: true } }, async (request) => {
  const { application_id, license_key } = request.body as { application_id: number; license_key: string };
  const [row] = await bareSql`select * from licenses where application_id = ${application_id} and license_key = ${license_key}`;
  return row ?? null;
});

// The same baseline plus the one piece of work API.md requires of every client answer: an Ed25519
// signature over `X-Signature-Timestamp` + raw body, signed inline with the same library Keycord
// signs with when its nonce pool is dry (libsodium where it loaded: about half OpenSSL's time).
// Keycord's validation does this and more; this side measures the gap the contract's signature
// leaves to the unsigned route above.
const { privateKey: bareSigningKey } = generateKeyPairSync('ed25519');
app.post('/bench/bare-signed', { schema: { hide: true } }, async (request, reply) => {
  const { application_id, license_key } = request.body as { application_id: number; license_key: string };
  const [row] = await bareSql`select * from licenses where application_id = ${application_id} and license_key = ${license_key}`;
  const body = JSON.stringify(row ?? null);
  const timestamp = String(Math.floor(Date.now() / 1000));
  reply.header('X-Signature-Timestamp', timestamp);
  reply.header('X-Signature-Ed25519', ed25519Sign(bareSigningKey, responseMessage(timestamp, body)).toString('hex'));
  reply.type('application/json; charset=utf-8');
  return body;
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('server has no TCP address');
send({ type: 'listening', port: address.port });

// BENCH_CPU_PROF=1: the parent brackets each measured run, so each target gets its own profile
// (a whole-process profile would mix seeding, warm-up and both targets).
let profiler: Session | null = null;
async function profileStart() {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
  send({ type: 'profiling' });
}
async function profileStop(file: string) {
  if (!profiler) return;
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = null;
  await writeFile(file, JSON.stringify(profile));
  send({ type: 'profiled', file });
}

process.on('message', async (message: ParentMessage) => {
  if (message.type === 'profile-start') return profileStart();
  if (message.type === 'profile-stop') return profileStop(message.file);
  if (message.type === 'gc-stats') {
    send({ type: 'gc-stats', stats: gc });
    gc = { pauses: 0, totalMs: 0, longestMs: 0 };
    return;
  }
  await Promise.all([keycord.close(), bareSql.end({ timeout: 5 })]);
  send({ type: 'stopped' });
  process.disconnect?.();
});
