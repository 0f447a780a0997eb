/**
 * The server side of `npm run bench:seller`, run as a child process so the load generator in the
 * parent does not take its CPU. It serves Keycord (as `keycord start --role api` runs it) and,
 * on a port of its own, the bare baseline (bare-seller-routes.ts) on the same database; then it
 * tells the parent both ports over IPC. Only one of the two is under load at any time.
 *
 * Environment: the usual Keycord variables (DATABASE_URL, KEYCORD_SECRET, DATABASE_POOL_SIZE, …).
 */
import Fastify from 'fastify';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { startKeycord } from '../../src/start-keycord.js';
import { bareSellerRoutes } from './bare-seller-routes.js';

export type SellerServerMessage = { type: 'listening'; keycordPort: number; barePort: number };

const config = loadConfig();
if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
const keycord = await startKeycord(config, { role: 'api' });
await keycord.app!.listen({ host: '127.0.0.1', port: 0 });

// A plain Fastify with no hooks, and a postgres.js pool of Keycord's size with prepared statements.
const sql = postgres(config.databaseUrl, { max: config.databasePoolSize, onnotice: () => {} });
const bare = Fastify();
bare.register(bareSellerRoutes, { sql });
await bare.listen({ host: '127.0.0.1', port: 0 });

const portOf = (server: { address(): unknown }) => (server.address() as { port: number }).port;
process.send?.({ type: 'listening', keycordPort: portOf(keycord.app!.server), barePort: portOf(bare.server) } satisfies SellerServerMessage);

process.on('message', async (message: { type: string }) => {
  if (message.type !== 'stop') return;
  await Promise.all([keycord.close(), bare.close(), sql.end({ timeout: 5 })]);
  process.disconnect?.();
});
