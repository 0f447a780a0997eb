import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, MIN_SECRET_DISTINCT_CHARS, type Config } from './config.js';
import { DataDirInUseError, DataDirUnusableError } from './db/data-dir-lock.js';
import { DatabaseFromNewerKeycordError } from './db/migrate.js';
import { readEnvFile } from './env-file.js';
import { PortUnavailableError } from './http/server-listen.js';
import { createLogger, type Logger } from './log.js';
import { createShutdown } from './shutdown.js';
import { ROLES, startKeycord, type Keycord, type Role } from './start-keycord.js';

const USAGE = `Usage: keycord start [--role api|worker|bot|all]`;

async function start(role: Role) {
  const envFile = readEnvFile();
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  log.info({ role, node: process.version }, `Keycord starting (role ${role})`);
  if (envFile) log.info({ file: envFile }, `read settings from ${envFile} (variables set in the environment win)`);
  if (config.secretSource === 'generated') {
    log.warn({ file: config.secretFile }, 'KEYCORD_SECRET is not set: generated a new one and stored it in DATA_DIR. Set KEYCORD_SECRET in production.');
  } else if (config.secretSource === 'data-dir') {
    log.warn({ file: config.secretFile }, 'KEYCORD_SECRET is not set: using the one stored in DATA_DIR.');
  }
  if (config.secretFileLooseMode !== undefined) {
    const mode = config.secretFileLooseMode.toString(8).padStart(4, '0');
    log.warn({ file: config.secretFile, mode }, `${config.secretFile} holds the secret and other users of this machine have access to it (mode ${mode}): run chmod 600 ${config.secretFile}`);
  }
  if (config.secretLooksWeak) {
    log.warn(
      `KEYCORD_SECRET is made of fewer than ${MIN_SECRET_DISTINCT_CHARS} different characters: it looks like a pattern, not a random secret. ` +
        'Before keeping data you care about, set a random one (openssl rand -hex 32): what is encrypted under a secret is readable only with it.',
    );
  }
  const signals = holdSignalsDuringStartUp(log);

  let keycord: Keycord | undefined;
  try {
    keycord = await startKeycord(config, { role, overrides: { log } });
    announceDiscord(log, config, keycord);
    if (keycord.app) await keycord.listen();
  } catch (err) {
    // What the operator must change is said in the message; anything else gets its stack.
    if (err instanceof DataDirInUseError) log.fatal({ dataDir: err.dataDir, holder: err.holder }, err.message);
    else if (err instanceof DataDirUnusableError) log.fatal({ dataDir: err.dataDir }, err.message);
    else if (err instanceof PortUnavailableError) log.fatal({ host: err.address.host, port: err.address.port }, err.message);
    else if (err instanceof DatabaseFromNewerKeycordError) log.fatal({ unknownMigrations: err.unknownTags }, err.message);
    else if (err instanceof ConfigError) log.fatal(err.message);
    // Discord refused DISCORD_TOKEN (its message says so): a setting to change, like the ones above.
    // By name: the gateway's module (and @discordjs/ws) loads only in gateway mode.
    else if (err instanceof Error && err.name === 'GatewayClosedError') log.fatal({ closeCode: (err as { code?: number }).code }, err.message);
    else log.fatal({ err }, 'start-up failed');
    // A port already taken, say: what did start (the database above all) is closed properly.
    await keycord?.close().catch(() => {});
    process.exit(1);
  }
  if (keycord.app) {
    const { port } = keycord.app.server.address() as AddressInfo;
    const docs = `${browsableUrl(config.host, port)}/docs`;
    log.info({ url: docs }, `Keycord is ready: open ${docs}`);
  } else {
    log.info(`Keycord is ready (role ${role}: no HTTP API in this process)`);
  }

  // Ordered shutdown: stop taking requests, finish or return jobs, then — on every exit path,
  // even when a request outlives the grace — write what is buffered and close the database.
  const shutdown = createShutdown({
    log,
    graceMs: config.shutdownGraceMs,
    exit: (code) => process.exit(code),
    steps: keycord.shutdownSteps,
    final: keycord.finalSteps,
  });
  signals.handOver((signal) => void shutdown(signal));
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

/**
 * As PID 1 in a container, a signal without a handler is ignored, so `docker stop` during a first
 * start (database creation, migrations) would wait for the kill. A stop asked for during start-up
 * is held and carried out through the ordered shutdown as soon as there is one; a second one
 * (Ctrl-C twice) exits at once.
 */
function holdSignalsDuringStartUp(log: Logger) {
  let pending: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => {
    if (pending) process.exit(EXIT_ON_SECOND[signal] ?? 143);
    pending = signal;
    log.warn({ signal }, `${signal} during start-up: stopping as soon as start-up is done (send it again to stop at once)`);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, hold);
  return {
    handOver(stop: (signal: NodeJS.Signals) => void) {
      for (const signal of STOP_SIGNALS) {
        process.off(signal, hold);
        process.on(signal, stop);
      }
      if (pending) stop(pending);
    },
  };
}

/**
 * What stops Keycord in order. SIGHUP too: `npm start` in a terminal or an SSH session gets it when
 * that closes, and without a handler Node dies at once — no usage flushed, the embedded database
 * left as after a crash.
 */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** A second stop during start-up exits at once, with the shell's code for that signal (128 + its number). */
const EXIT_ON_SECOND: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

function announceDiscord(log: Logger, config: Config, keycord: Keycord) {
  const { mode } = config.discord;
  if (mode === 'http' && keycord.app) {
    log.info({ discord: 'http' }, 'Discord: HTTP interactions at POST /discord/interactions (the Interactions Endpoint URL of the application)');
  } else if (mode === 'gateway' && keycord.gateway) {
    log.info({ discord: 'gateway' }, 'Discord: gateway connecting with the bot token (in the background; "Discord gateway connected" follows)');
  } else if (mode === 'gateway' && keycord.role !== 'bot') {
    log.info({ discord: 'gateway' }, 'Discord: gateway mode, served by the process with --role bot or all');
  } else if (keycord.role === 'bot' && mode !== 'gateway') {
    log.warn('role "bot" runs the gateway; in HTTP mode interactions arrive through the api role');
  }
}

/** Where a person on this machine opens the API: a wildcard address is not one a browser takes. */
function browsableUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

async function main(argv: string[]) {
  let parsed: { positionals: string[]; values: { role?: string | undefined; help?: boolean | undefined } };
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { role: { type: 'string', default: 'all' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    // An unknown option is the user's mistake, not a crash: say what is wrong and how to call it.
    console.error(`${(err as Error).message.split('.')[0]}.\n${USAGE}`);
    process.exit(2);
  }
  const { positionals, values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
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
