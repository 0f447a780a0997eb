import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/core/clock.js';
import type { CoreLimits, Deps } from '../../src/core/deps.js';
import { createTestDatabase } from './databases.js';
import { flushRedisPrefix } from './redis.js';
import { RoundTripCounter } from './round-trips.js';
import type { JobProvider } from '../../src/jobs/job-provider.js';
import type { JobSystem } from '../../src/jobs/job-system.js';
import { startKeycord } from '../../src/start-keycord.js';
import type { Config } from '../../src/config.js';
import type { DiscordBot } from '../../src/discord/bot.js';
import type { ContractViolation } from '../../src/http/contract-check.js';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface Harness {
  app: FastifyInstance;
  /** Answers their routes' declared responses did not describe, so far (see HarnessOptions.contractCheck). */
  contractViolations: ContractViolation[];
  deps: Deps;
  config: Config;
  /** Present with `jobs`: the BullMQ side, on a queue prefix of this file's own. */
  jobs?: JobSystem;
  /** Present with `jobs`: whichever provider runs them (`jobs` above, or the local one). */
  jobProvider?: JobProvider;
  /** Present with `discord`: the bot, in HTTP interactions mode. */
  bot?: DiscordBot;
  /** The Postgres database of this harness; empty on the embedded one (`database: 'pglite'`). */
  databaseUrl: string;
  /** Present with `countRoundTrips`: counts what reaches the database, between Keycord and Postgres. */
  roundTrips?: RoundTripCounter;
  close(): Promise<void>;
  /** Registers a developer and returns their token: a fresh tenant. */
  seller(name?: string): Promise<Seller>;
  call(token: string | null, opts: InjectOptions): Promise<LightMyRequestResponse>;
}

export interface Seller {
  token: string;
  developerId: number;
  username: string;
  /** Inject as this seller; `body` goes as JSON. */
  call(method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  /** An application with one plan, ready for keys. */
  setup(opts?: { settings?: Record<string, unknown>; plan?: Record<string, unknown> }): Promise<{ app: AppView; plan: PlanView }>;
  generate(planId: number, count?: number, extra?: Record<string, unknown>): Promise<LicenseView[]>;
}

export type AppView = { id: number; app_id: string; secret: string; public_key: string; settings: Record<string, unknown> };
export type PlanView = { id: number; application_id: number; name: string; duration_days: number };
export type LicenseView = { id: number; license_key: string; status: string };

let counter = 0;

export interface HarnessOptions {
  /**
   * Check every answer against its route's declared responses (default on): `close()` then
   * fails with each answer the OpenAPI document does not describe.
   */
  contractCheck?: boolean;
  clock?: Clock;
  limits?: Partial<CoreLimits>;
  env?: Record<string, string>;
  /** `local`: the in-process job provider (JOB_PROVIDER=local), which needs no Redis. */
  jobs?: 'workers' | 'producer' | 'local';
  /** Runs the bot in HTTP mode against a Discord stand-in at `apiUrl`. */
  discord?: { publicKeyHex: string; apiUrl: string };
  /**
   * `pglite`: the embedded database in this harness's DATA_DIR, with no DATABASE_URL and no
   * REDIS_URL, as `npm start` runs on a machine with nothing but Node.
   */
  database?: 'postgres' | 'pglite';
  /** Puts a protocol-reading proxy between Keycord and Postgres (`roundTrips`) to budget operations. */
  countRoundTrips?: boolean;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const embedded = opts.database === 'pglite';
  const database = embedded ? undefined : await createTestDatabase();
  const roundTrips = opts.countRoundTrips && database ? new RoundTripCounter() : undefined;
  if (roundTrips) await roundTrips.start(Number(new URL(database!.url).port || 5432), new URL(database!.url).hostname);
  // Each harness its own DATA_DIR (uploaded files live there), removed on close.
  const dataDir = await mkdtemp(join(tmpdir(), 'keycord-test-'));
  const queuePrefix = `kct_${database ? database.name.slice('keycord_t_'.length) : dataDir.slice(-6)}`;
  const config = loadConfig({
    QUEUE_PREFIX: queuePrefix,
    ...(embedded ? {} : { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', DATABASE_URL: roundTrips ? roundTrips.urlFor(database!.url) : database!.url }),
    ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
    WEBHOOK_RETRY_BASE_MS: '50',
    OUTBOX_POLL_MS: '25',
    // Every test registers from 127.0.0.1; the rate-limit tests set their own, low limits.
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    SELLER_RATE_LIMIT_PER_MINUTE: '100000',
    NODE_ENV: 'test',
    DATABASE_POOL_SIZE: '10',
    KEYCORD_SECRET: TEST_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATA_DIR: dataDir,
    ...(opts.discord
      ? {
          DISCORD_MODE: 'http',
          DISCORD_PUBLIC_KEY: opts.discord.publicKeyHex,
          DISCORD_APPLICATION_ID: '800000000000000001',
          DISCORD_TOKEN: 'test-bot-token-0123456789',
          DISCORD_API_URL: opts.discord.apiUrl,
        }
      : {}),
    ...(opts.jobs === 'local' ? { JOB_PROVIDER: 'local' } : {}),
    ...opts.env,
  });
  // Assembled as `keycord start` assembles it (role api, plus workers when asked for), from config alone.
  // The local provider is one process by design: it refuses role api, so it runs as role all.
  const contractViolations: ContractViolation[] = [];
  // Statements on the pool from inside an open transaction (db/pool-guard.ts): each one a deadlock
  // waiting to happen (forever on the embedded database, which has one connection).
  const poolInTransaction: string[] = [];
  const keycord = await startKeycord(config, {
    ...(opts.contractCheck === false ? {} : { contractViolations }),
    role: opts.jobs === 'local' ? 'all' : 'api',
    jobs: opts.jobs === 'local' ? 'workers' : (opts.jobs ?? 'none'),
    discordProgressEveryMs: 100,
    overrides: {
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
      onPoolQueryInTransaction: (stack) => void poolInTransaction.push(stack),
    },
  });
  const { deps, jobs, jobProvider, bot } = keycord;
  const app = keycord.app!;

  const call = (token: string | null, o: InjectOptions) => app.inject({ ...o, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(o.headers ?? {}) } });

  const seller = async (name = 'seller'): Promise<Seller> => {
    const username = `${name}${++counter}${Date.now() % 100000}`;
    const res = await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { email: `${username}@example.test`, username, password: 'correct horse battery' },
    });
    if (res.statusCode !== 201) throw new Error(`register failed: ${res.body}`);
    const { token, developer } = res.json();
    const s: Seller = {
      token,
      developerId: developer.id,
      username,
      call: (method, url, body, headers) => call(token, { method, url, ...(body !== undefined ? { payload: body as object } : {}), ...(headers ? { headers } : {}) }),
      setup: async (o = {}) => {
        const a = await s.call('POST', '/api/applications', { name: 'My App', ...(o.settings ? { settings: o.settings } : {}) });
        if (a.statusCode !== 201) throw new Error(`create app failed: ${a.body}`);
        const app = a.json() as AppView;
        const p = await s.call('POST', '/api/plans/', { application_id: app.id, name: 'Monthly', duration_days: 30, ...o.plan });
        if (p.statusCode !== 201) throw new Error(`create plan failed: ${p.body}`);
        return { app, plan: p.json() as PlanView };
      },
      generate: async (planId, count = 1, extra = {}) => {
        const g = await s.call('POST', '/api/licenses/generate', { plan_id: planId, count, format: 'random', ...extra });
        if (g.statusCode !== 200) throw new Error(`generate failed: ${g.body}`);
        return g.json().licenses as LicenseView[];
      },
    };
    return s;
  };

  return {
    app,
    deps,
    config,
    ...(jobs ? { jobs } : {}),
    ...(jobProvider ? { jobProvider } : {}),
    ...(bot ? { bot } : {}),
    databaseUrl: database?.url ?? '',
    ...(roundTrips ? { roundTrips } : {}),
    call,
    seller,
    contractViolations,
    close: async () => {
      await keycord.close();
      await roundTrips?.close();
      if (jobs) await flushRedisPrefix(config.redisUrl, queuePrefix);
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
      if (poolInTransaction.length) throw new Error(`statements on the pool inside an open transaction (use its tx):\n${[...new Set(poolInTransaction)].slice(0, 5).join('\n\n')}`);
      if (contractViolations.length) throw new Error(`answers the OpenAPI document does not describe:\n${contractViolations.map((v) => `  ${v.route} ${v.status}: ${v.problem}`).join('\n')}`);
    },
  };
}

/** POSTs to the client API (no bearer). */
export const client = (h: Harness, url: string, body: unknown) => h.app.inject({ method: 'POST', url, payload: body as object });
