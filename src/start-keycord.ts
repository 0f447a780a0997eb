import type { FastifyInstance } from 'fastify';
import { ConfigError, type Config } from './config.js';
import type { Deps } from './core/deps.js';
import type { GatewayAdapter } from './discord/adapters/gateway.js';
import type { DiscordBot } from './discord/bot.js';
import { API_VERSION, buildApp } from './http/app.js';
import { listenOn } from './http/server-listen.js';
import type { JobProvider } from './jobs/job-provider.js';
import { serverOf } from './log.js';
import { startJobSystem, type JobSystem } from './jobs/job-system.js';
import { startLocalJobProvider } from './jobs/local/local-job-provider.js';
import { createDeps, runMigrations, type RuntimeOverrides } from './runtime.js';
import type { ShutdownStep } from './shutdown.js';
import type { ContractViolation } from './http/contract-check.js';
import { closeReceiverPools } from './core/webhooks/receiver-pools.js';
import { settleWithin } from './settle-within.js';

export const ROLES = ['api', 'worker', 'bot', 'all'] as const;
export type Role = (typeof ROLES)[number];

export interface StartOptions {
  /** `keycord start --role`: which parts run in this process (default all). */
  role?: Role;
  /**
   * The job side, when not the role's: `none` runs no job system at all (tests that need no
   * Redis). By default a process with workers runs them and any other keeps the producers
   * (health, the dashboard and the rate limiter need them). With JOB_PROVIDER=local any job side
   * is the local provider, which runs everything.
   */
  jobs?: 'workers' | 'producer' | 'none';
  /** Replaces parts of the runtime (a test clock, tighter limits). */
  overrides?: RuntimeOverrides;
  /** The test suite's response-contract guard (see BuildAppOptions). */
  contractViolations?: ContractViolation[];
  /** How often a long Discord /generate edits its progress message. */
  discordProgressEveryMs?: number;
}

export interface Keycord {
  config: Config;
  deps: Deps;
  role: Role;
  /** The HTTP door (roles api and all); `listen()` (or `inject`) makes it ready. */
  app?: FastifyInstance;
  /** The `bullmq` provider, when it is the one (its queues and Redis are used beyond jobs). */
  jobs?: JobSystem;
  /** Whichever provider runs the jobs: `jobs` above, or the local one. */
  jobProvider?: JobProvider;
  bot?: DiscordBot;
  gateway?: GatewayAdapter;
  /** Listens on PORT/HOST from the configuration (or `at`), returning the base URL. */
  listen(at?: { port: number; host: string }): Promise<string>;
  /** Stop taking work, in order: HTTP, the gateway, the bot's follow-ups, the jobs. */
  shutdownSteps: ShutdownStep[];
  /** Then, on every exit path: buffered usage, the database. */
  finalSteps: ShutdownStep[];
  /** Runs both lists in order (tests and benchmarks; `keycord start` adds a grace and exit codes). */
  close(): Promise<void>;
}

/**
 * How long a stop waits for the bot's follow-ups (an export's upload, a bulk change's last edit).
 * Their database work is in transactions of its own; what is cut is a reply left unedited. The
 * jobs after them need the rest of the shutdown grace (15 s by default).
 */
const DISCORD_FOLLOW_UPS_STOP_MS = 5000;

/** How long start-up waits for Discord to take or refuse the gateway's token (normally a moment). */
const GATEWAY_TOKEN_CHECK_MS = 5000;

/**
 * The one composition root: `keycord start`, the test harness and the benchmarks all assemble
 * Keycord here, from the configuration alone, so none of them runs with defaults of its own.
 */
export async function startKeycord(config: Config, opts: StartOptions = {}): Promise<Keycord> {
  const role = opts.role ?? 'all';
  const jobMode = opts.jobs ?? (role === 'worker' || role === 'all' ? 'workers' : 'producer');
  const local = config.jobs.provider === 'local' && jobMode !== 'none';
  if (local && role !== 'all') throw localProviderSplitError(role);
  const deps = await createDeps(config, opts.overrides);
  const { log } = deps;
  try {
    await runMigrations(deps.db, { log });
  } catch (err) {
    await deps.db.close().catch(() => {});
    throw err;
  }
  deps.usage.start();

  const runsApi = role === 'api' || role === 'all';
  // Loaded before the job provider starts, so nothing is awaited between its start and the
  // listener below (see there).
  const bot = await loadDiscordBot(deps, config, opts);
  const expiryNotices = bot && config.discord.token ? await import('./discord/expiry-notices.js') : undefined;
  const sharingAlerts = bot && config.discord.token ? await import('./discord/sharing-alerts.js') : undefined;
  const logAlerts = bot && config.discord.token ? await import('./discord/log-alerts.js') : undefined;
  const orderDelivery = bot && config.discord.token ? await import('./discord/order-delivery.js') : undefined;
  // Redis is for jobs only: the API starts and serves whether or not it answers.
  const jobs = jobMode === 'none' || local ? undefined : await startJobSystem(deps, config, { withWorkers: jobMode === 'workers' });
  if (jobs) {
    const where = `Redis at ${serverOf(config.redisUrl)}, prefix ${jobs.queuePrefix}`;
    log.info(
      { provider: 'bullmq', installation: jobs.installationId, concurrency: config.jobs.workerConcurrency },
      jobMode === 'workers' ? `job provider: bullmq (${where}), workers in this process` : `job provider: bullmq (${where}), enqueue only: jobs run in a --role worker process`,
    );
  }
  const localJobs = local ? await startLocalJobProvider(deps, config.jobs) : undefined;
  if (localJobs) {
    log.info({ provider: 'local', installation: localJobs.installationId }, 'job provider: local (jobs run in this process, from the database; set REDIS_URL for bullmq)');
  }
  const jobProvider: JobProvider | undefined = jobs ?? localJobs;
  const runsJobs = local || jobMode === 'workers';

  if (!bot) log.info('Discord bot off: set DISCORD_PUBLIC_KEY (HTTP interactions) or DISCORD_TOKEN (gateway), and DISCORD_APPLICATION_ID');
  // Expiry DMs are sent by whichever process runs the workers (they consume the events). No await
  // since the provider started: its first dispatch waits on the database, so it sees the listener.
  if (bot && expiryNotices && jobProvider && runsJobs) jobProvider.onEvent(expiryNotices.expiryNotifier(deps, bot.context.api));
  // Key-sharing alerts go to the log channels the same way.
  if (bot && sharingAlerts && jobProvider && runsJobs) jobProvider.onEvent(sharingAlerts.sharingAlerter(deps, bot.context.api));
  // So do jobs finishing and webhooks failing for good (internal events: no webhook receives them).
  if (bot && logAlerts && jobProvider && runsJobs) jobProvider.onEvent(logAlerts.logAlerter(deps, bot.context.api));
  // Store orders with a buyer's Discord id: keys by DM and the plan's role, after the order committed.
  if (bot && orderDelivery && jobProvider && runsJobs) jobProvider.onEvent(orderDelivery.orderDeliverer(deps, bot.context.api));
  let gateway: GatewayAdapter | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  const shutdownSteps: ShutdownStep[] = [
    { name: 'http', run: () => app?.close() },
    { name: 'gateway', run: () => gateway?.stop() },
    {
      name: 'discord',
      run: async () => {
        const left = await bot?.idle(DISCORD_FOLLOW_UPS_STOP_MS);
        if (left) log.warn({ followUps: left }, 'stopping without the Discord follow-ups still running: their replies stay as they are');
      },
    },
    { name: 'jobs', run: () => jobProvider?.close() },
    // After the workers: deliveries in flight finish on their kept-alive sockets, then those close.
    { name: 'webhook receivers', run: () => closeReceiverPools() },
  ];
  const finalSteps: ShutdownStep[] = [
    { name: 'usage', run: () => deps.usage.stop() },
    { name: 'database', run: () => deps.db.close() },
  ];

  try {
    if (bot && config.discord.mode === 'gateway' && (role === 'bot' || role === 'all')) {
      // @discordjs/ws is only for the gateway: HTTP interactions never load it.
      const { GatewayAdapter } = await import('./discord/adapters/gateway.js');
      gateway = new GatewayAdapter(bot, log);
      // The gateway connects in the background, trying again while Discord cannot be reached: the
      // API does not wait on Discord. Only Discord refusing DISCORD_TOKEN within the check stops
      // start-up, as any bad setting does; a refusal later is logged and the rest runs on.
      const connecting = gateway.start(config.discord.token!, config.discord.apiUrl);
      connecting.catch(() => {}); // the adapter logs it
      await settleWithin(connecting, GATEWAY_TOKEN_CHECK_MS, undefined);
    }
    app = runsApi
      ? await buildApp(deps, {
          version: API_VERSION,
          trustProxy: config.trustProxy,
          http: config.http,
          signingThread: config.signingThread,
          publicUrl: config.publicUrl,
          logRequests: config.logLevel === 'debug' || config.logLevel === 'trace',
          ...(jobs ? { jobs } : {}),
          operators: config.jobs.operators,
          ...(opts.contractViolations ? { contractViolations: opts.contractViolations } : {}),
          rateLimits: { ...config.rateLimits, prefix: jobs?.queuePrefix ?? config.jobs.queuePrefix },
          ...(bot && config.discord.mode === 'http' ? { discord: { bot, publicKey: config.discord.publicKey! } } : {}),
          // The gateway's session, beside the database: down (a Discord outage, a reset token) degrades.
          ...(gateway ? { healthChecks: { discord: async () => gateway!.health() } } : {}),
        })
      : undefined;
  } catch (err) {
    // A start that fails here (a refused DISCORD_TOKEN, a bad HTTP setting) stops what it started,
    // by the same steps as a stop, each run whatever the one before did: else the job provider
    // went on in a process about to exit, holding the local runner lock, taking outbox rows and
    // cutting its work off mid-way.
    for (const step of [...shutdownSteps, ...finalSteps])
      await Promise.resolve()
        .then(step.run)
        .catch(() => {});
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    deps,
    role,
    ...(app ? { app } : {}),
    ...(jobs ? { jobs } : {}),
    ...(jobProvider ? { jobProvider } : {}),
    ...(bot ? { bot } : {}),
    ...(gateway ? { gateway } : {}),
    listen: async (at = { port: config.port, host: config.host }) => {
      if (!app) throw new Error(`role "${role}" runs no HTTP API`);
      return listenOn(app, at);
    },
    shutdownSteps,
    finalSteps,
    close: () =>
      (closing ??= (async () => {
        for (const step of [...shutdownSteps, ...finalSteps]) await step.run();
      })()),
  };
}

/**
 * The bot's handlers, its commands and its REST client are loaded only when Discord is configured:
 * a process without a bot does not carry them in memory.
 */
async function loadDiscordBot(deps: Deps, config: Config, opts: StartOptions): Promise<DiscordBot | undefined> {
  if (config.discord.mode === 'off' || !config.discord.applicationId) return undefined;
  const { createDiscordBot } = await import('./discord/create-discord.js');
  return createDiscordBot(deps, config.discord, { publicUrl: config.publicUrl, ...(opts.discordProgressEveryMs ? { progressEveryMs: opts.discordProgressEveryMs } : {}) }) ?? undefined;
}

/** The local provider runs every job in the process that has the API and the bot: no split. */
function localProviderSplitError(role: Role): ConfigError {
  return new ConfigError(
    `Invalid configuration:\n  JOB_PROVIDER: "local" runs the API, the bot and every job in one process, so --role ${role} cannot run on its own. ` +
      'Start with --role all, or set REDIS_URL (JOB_PROVIDER=bullmq) to split roles across processes.',
  );
}
