import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { API_VERSION, buildApp } from './http/app.js';
import { startJobSystem } from './jobs/job-system.js';
import { GatewayAdapter } from './discord/adapters/gateway.js';
import { createDiscordBot } from './discord/create-discord.js';
import { expiryNotifier } from './discord/expiry-notices.js';
import { createDeps, runMigrations } from './runtime.js';
import { createShutdown } from './shutdown.js';

const ROLES = ['api', 'worker', 'bot', 'all'] as const;
type Role = (typeof ROLES)[number];

const USAGE = `Usage: keycord start [--role api|worker|bot|all]`;

async function start(role: Role) {
  const config = loadConfig();
  const deps = await createDeps(config);
  const { log } = deps;
  if (config.secretSource === 'generated') {
    log.warn({ file: config.secretFile }, 'KEYCORD_SECRET is not set: generated a new one and stored it in DATA_DIR. Set KEYCORD_SECRET in production.');
  } else if (config.secretSource === 'data-dir') {
    log.warn({ file: config.secretFile }, 'KEYCORD_SECRET is not set: using the one stored in DATA_DIR.');
  }
  log.info({ database: deps.db.kind === 'pglite' ? `embedded PGlite in ${config.dataDir}/pglite` : 'postgres (DATABASE_URL)' }, 'database');
  const applied = await runMigrations(deps.db);
  if (applied.length) log.info({ applied }, 'migrations applied');

  deps.usage.start();
  const runsApi = role === 'api' || role === 'all';
  const runsWorkers = role === 'worker' || role === 'all';
  // Redis is for jobs only: the API starts and serves whether or not it answers.
  const jobs = await startJobSystem(deps, config, { withWorkers: runsWorkers });
  if (runsWorkers) log.info({ prefix: jobs.queuePrefix, installation: jobs.installationId, concurrency: config.jobs.workerConcurrency }, 'job workers running');

  const bot = createDiscordBot(deps, config.discord);
  if (!bot) log.info('Discord bot off: set DISCORD_PUBLIC_KEY (HTTP interactions) or DISCORD_TOKEN (gateway), and DISCORD_APPLICATION_ID');
  // Expiry DMs are sent by whichever process runs the workers (they consume the events).
  if (bot && runsWorkers && config.discord.token) jobs.onEvent(expiryNotifier(deps, bot.context.api));
  let gateway: GatewayAdapter | undefined;
  if (bot && config.discord.mode === 'gateway' && (role === 'bot' || role === 'all')) {
    gateway = new GatewayAdapter(bot, log);
    await gateway.start(config.discord.token!, config.discord.apiUrl);
  }
  const app = runsApi
    ? await buildApp(deps, {
        version: API_VERSION,
        trustProxy: config.trustProxy,
        http: config.http,
        signingThread: config.signingThread,
        logRequests: config.logLevel === 'debug' || config.logLevel === 'trace',
        jobs,
        operators: config.jobs.operators,
        rateLimits: { ...config.rateLimits, prefix: jobs.queuePrefix },
        ...(bot && config.discord.mode === 'http' ? { discord: { bot, publicKey: config.discord.publicKey! } } : {}),
      })
    : undefined;
  if (app) {
    await app.listen({ port: config.port, host: config.host });
    log.info(`Keycord API listening on http://${config.host}:${config.port} (docs at /docs)`);
    if (bot && config.discord.mode === 'http') log.info('Discord interactions endpoint: POST /discord/interactions');
  }
  if (role === 'bot' && config.discord.mode !== 'gateway') log.warn('role "bot" runs the gateway; in HTTP mode interactions arrive through the api role');

  // Ordered shutdown: stop taking requests, finish or return jobs, then — on every exit path,
  // even when a request outlives the grace — write what is buffered and close the database.
  const shutdown = createShutdown({
    log,
    graceMs: config.shutdownGraceMs,
    exit: (code) => process.exit(code),
    steps: [
      { name: 'http', run: () => app?.close() },
      { name: 'gateway', run: () => gateway?.stop() },
      { name: 'discord', run: () => bot?.idle() },
      { name: 'jobs', run: () => jobs.close() },
    ],
    final: [
      { name: 'usage', run: () => deps.usage.stop() },
      { name: 'database', run: () => deps.db.close() },
    ],
  });
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // A crash is an exit path too: log it, then leave through the same door.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException');
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled promise rejection');
    void shutdown('unhandledRejection');
  });
}

async function main(argv: string[]) {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { role: { type: 'string', default: 'all' } } });
  const [command] = positionals;
  if (command !== 'start') {
    console.error(USAGE);
    process.exit(2);
  }
  if (!ROLES.includes(values.role as Role)) {
    console.error(`Unknown role "${values.role}". ${USAGE}`);
    process.exit(2);
  }
  try {
    await start(values.role as Role);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

await main(process.argv.slice(2));
