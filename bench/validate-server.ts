/**
 * The server side of `npm run bench:validate`, run as a child process so the load generator in
 * the parent does not take this process's CPU. It serves the real Keycord app plus one bare
 * route on the same database, then tells the parent its port over IPC.
 *
 * Environment: the usual Keycord variables (DATABASE_URL, KEYCORD_SECRET, DATABASE_POOL_SIZE, …).
 */
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { createDeps } from '../src/runtime.js';

export type ServerMessage = { type: 'listening'; port: number } | { type: 'stopped' };
export type ParentMessage = { type: 'stop' };

const send = (message: ServerMessage) => process.send?.(message);

const config = loadConfig();
if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
const deps = await createDeps(config);
deps.usage.start();
const app = await buildApp(deps);

// The baseline: what any Fastify route that reads one license costs. One indexed SELECT per
// request (the (application_id, license_key) unique index), key as a parameter, a pool of the
// same size as Keycord's, the row back as JSON — no batching, caching, validation or signing.
const bareSql = postgres(config.databaseUrl, { max: config.databasePoolSize, onnotice: () => {} });
app.post('/bench/bare', { schema: { hide: true } }, async (request) => {
  const { application_id, license_key } = request.body as { application_id: number; license_key: string };
  const [row] = await bareSql`select * from licenses where application_id = ${application_id} and license_key = ${license_key}`;
  return row ?? null;
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('server has no TCP address');
send({ type: 'listening', port: address.port });

process.on('message', async (message: ParentMessage) => {
  if (message.type !== 'stop') return;
  await app.close();
  await deps.usage.stop();
  await Promise.all([deps.db.close(), bareSql.end({ timeout: 5 })]);
  send({ type: 'stopped' });
  // A normal exit, so `--cpu-prof` (BENCH_CPU_PROF=1) gets to write its profile.
  process.disconnect?.();
});
