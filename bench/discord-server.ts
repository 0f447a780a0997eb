/**
 * The server side of `npm run bench:discord`, run as a child process so the load generator in
 * the parent does not take its CPU. It serves Keycord as `keycord start --role api` runs it with
 * the bot in HTTP interactions mode (POST /discord/interactions), and — on a second port, in a
 * Fastify of its own with none of Keycord's hooks — the two bare baselines:
 *   POST /hello         Fastify parsing a JSON body and answering a fixed interaction response;
 *   POST /interactions  the same, after checking the Ed25519 signature over timestamp + raw body
 *                       with node:crypto and a KeyObject made once (what Keycord uses too);
 *   POST /interactions/ban  verify as above, then the ban's transaction by the command's key
 *                       (UPDATE license, INSERT audit, INSERT outbox: prepared statements on a
 *                       postgres.js pool of Keycord's size), the baseline of /license ban.
 * Tells the parent both ports over IPC.
 *
 * Environment: the usual Keycord variables (DATABASE_URL, REDIS_URL, DISCORD_PUBLIC_KEY, …).
 */
import { createPublicKey, verify } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { startKeycord } from '../src/start-keycord.js';
import { applyBareChange } from './support/bare-seller-routes.js';
import { BARE_BAN_REPLY, BARE_REPLY, type DiscordParentMessage, type DiscordServerMessage } from './support/discord-server-protocol.js';

const send = (message: DiscordServerMessage) => process.send?.(message);

const config = loadConfig();
if (config.discord.mode !== 'http' || !config.discord.publicKey) throw new Error('DISCORD_PUBLIC_KEY is required (HTTP interactions mode)');
const keycord = await startKeycord(config, { role: 'api' });
await keycord.app!.listen({ host: '127.0.0.1', port: 0 });

const bare = Fastify();
const bareSql = postgres(config.databaseUrl!, { max: config.databasePoolSize, onnotice: () => {} });
bare.post('/hello', async () => BARE_REPLY);
const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(config.discord.publicKey, 'hex')]), format: 'der', type: 'spki' });
await bare.register(async (scope) => {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const verified = (request: FastifyRequest, reply: FastifyReply): Buffer | undefined => {
    const signature = request.headers['x-signature-ed25519'];
    const timestamp = request.headers['x-signature-timestamp'];
    const body = request.body as Buffer;
    if (typeof signature !== 'string' || typeof timestamp !== 'string' || !verify(null, Buffer.concat([Buffer.from(timestamp), body]), key, Buffer.from(signature, 'hex'))) {
      void reply.code(401).send({ error: 'invalid request signature' });
      return undefined;
    }
    return body;
  };
  scope.post('/interactions', async (request, reply) => (verified(request, reply) ? BARE_REPLY : reply));
  scope.post('/interactions/ban', async (request, reply) => {
    const body = verified(request, reply);
    if (!body) return reply;
    type Option = { name: string; value?: string; options?: Option[] };
    const options = (JSON.parse(body.toString('utf8')) as { data: { options: Option[] } }).data.options[0]?.options ?? [];
    const option = (name: string) => options.find((o) => o.name === name)?.value;
    const banned = await applyBareChange(bareSql, 'ban', { column: 'license_key', value: option('key') ?? '' }, { reason: option('reason') ?? '' }, request.ip);
    return banned ? BARE_BAN_REPLY : reply.code(404).send({ error: 'not found' });
  });
});
await bare.listen({ host: '127.0.0.1', port: 0 });

const portOf = (app: { server: { address(): unknown } }) => (app.server.address() as { port: number }).port;
send({ type: 'listening', keycordPort: portOf(keycord.app!), barePort: portOf(bare) });

// BENCH_CPU_PROF=1: the parent brackets each measured run, so each target gets its own profile.
let profiler: Session | null = null;
process.on('message', async (message: DiscordParentMessage) => {
  if (message.type === 'profile-start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    return send({ type: 'profiling' });
  }
  if (message.type === 'profile-stop') {
    if (!profiler) return;
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    profiler = null;
    await writeFile(message.file, JSON.stringify(profile));
    return send({ type: 'profiled', file: message.file });
  }
  await Promise.all([keycord.close(), bare.close()]);
  send({ type: 'stopped' });
  process.disconnect?.();
});
