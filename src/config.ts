import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { readConnectionUrl } from './connection-url.js';
import { DEFAULT_HTTP_LIMITS, type HttpServerLimits } from './http/server-limits.js';
import { placeFileExclusively } from './place-file.js';

/**
 * Every environment variable Keycord reads, parsed in one place. A bad value stops start-up with
 * a message naming the variable, so an operator never chases a misconfiguration at run time.
 */
const booleanString = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

/** KEYCORD_SECRET, and the one kept in DATA_DIR when it is not set. */
const MIN_SECRET_LENGTH = 32;
/**
 * Fewer different characters than this in KEYCORD_SECRET and it is no random string: the 64 hex
 * digits of `openssl rand -hex 32` show all 16 but for odds of about 10^-19 of fewer than 8, and
 * even 32 random hex digits only about once in 25 million (a warning, so a rare false one is harmless).
 */
export const MIN_SECRET_DISTINCT_CHARS = 8;

/** Where `JOB_PROVIDER=bullmq` looks for Redis when REDIS_URL is not set. */
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * A connection URL whose user name and password decode: the drivers decode them while connecting,
 * and a stray `%` (an unencoded password) would fail there as "URI malformed", naming nothing.
 */
function isDecodableUrl(value: string): boolean {
  try {
    const { url } = readConnectionUrl(value);
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return true;
  } catch {
    return false;
  }
}
const UNDECODABLE_URL = 'is not a valid URL: percent-encode special characters in the user name and password (% as %25, @ as %40, / as %2F, # as %23)';

/** A host name: dot-separated labels of letters, digits, hyphens and underscores. */
const HOST_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * A whole number in decimal digits (spaces round it allowed) from `min` to `max`. Not Number():
 * it reads a blank value as 0 (PORT=" " would listen on a random port), and 0x50, 1e3 or 0b11 as
 * numbers nobody wrote.
 */
const wholeNumber = (min: number, max: number, fallback: number) =>
  z.string().trim().regex(/^\d+$/, 'must be a whole number').default(String(fallback)).transform(Number).pipe(z.number().min(min).max(max));

/**
 * An interval a timer runs at: milliseconds, or a number with ms/s/m/h, from 50 ms to a day. 0
 * would run the work back to back, and Node fires a timer longer than 2^31 ms (~24.8 days) after
 * 1 ms, so a mistyped `1000h` would too.
 */
const duration = (fallback: string) =>
  z
    .string()
    .regex(/^\d+(ms|s|m|h)?$/, 'a duration such as 60000, 30s, 1m or 1h')
    .default(fallback)
    .transform(parseDuration)
    .refine((ms) => ms >= 50 && ms <= 86_400_000, 'between 50ms and 24h');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: wholeNumber(0, 65535, 3000),
  /**
   * The address the HTTP API listens on. A blank or mistyped one (a URL, a port, a space) would
   * only fail at listen, after the database started, as a DNS error naming nothing.
   */
  HOST: z
    .string()
    .default('0.0.0.0')
    .transform((v, ctx) => {
      const host = v.trim();
      if (isIP(host) !== 0 || HOST_NAME.test(host)) return host;
      const what = host ? `"${host.slice(0, 60)}" is neither` : 'it is blank';
      ctx.addIssue({ code: 'custom', message: `must be an IP address or a host name to listen on, such as 0.0.0.0 (every IPv4 address), :: or 127.0.0.1 (${what})` });
      return z.NEVER;
    }),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .refine(isDecodableUrl, UNDECODABLE_URL)
    .optional(),
  DATABASE_POOL_SIZE: wholeNumber(1, 200, 10),
  /** Named (prepared) statements; `false` behind a pooler in transaction mode that cannot keep them. */
  DATABASE_PREPARED_STATEMENTS: booleanString.default(true),
  /** Redis for the `bullmq` job provider. Unset, jobs run in this process (`local`). */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .refine(isDecodableUrl, UNDECODABLE_URL)
    .optional(),
  /** `bullmq` (Redis; several workers) or `local` (in process, from the database); by REDIS_URL when unset. */
  JOB_PROVIDER: z.enum(['bullmq', 'local']).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Largest file a seller may upload (bytes); the bytes live under DATA_DIR/files. */
  MAX_FILE_BYTES: wholeNumber(1, Number.MAX_SAFE_INTEGER, 104_857_600),
  KEYCORD_SECRET: z.string().min(MIN_SECRET_LENGTH, 'must be at least 32 characters (use `openssl rand -hex 32`)').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How often coalesced validation side effects (last_used, ip, counters) are written. */
  USAGE_FLUSH_MS: wholeNumber(50, 60_000, 1000),
  /** How long an application's settings and signing key stay cached per API instance. */
  APP_CACHE_TTL_MS: wholeNumber(0, 600_000, 5000),
  SESSION_TTL_HOURS: wholeNumber(1, 24 * 90, 24 * 7),
  MAX_APPLICATIONS: wholeNumber(1, 1_000_000, 50),
  MAX_LICENSES_PER_APPLICATION: wholeNumber(1, 1_000_000_000, 1_000_000),
  /**
   * Which proxies' X-Forwarded-For to believe for the client IP: `false` (none), a number of
   * hops (the nearest N proxies, e.g. 1 behind one load balancer), a comma-separated list of
   * proxy addresses or CIDR ranges, or `true` (every hop: only when nothing can reach Keycord
   * without passing a proxy that overwrites the header).
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v, ctx): TrustProxy => {
      const t = v.trim().toLowerCase();
      if (t === 'true' || t === 'yes') return true;
      if (t === 'false' || t === 'no' || t === '0') return false;
      if (/^\d{1,2}$/.test(t)) return Number(t);
      const entries = t
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      // `/0` is every address: Fastify's proxy-addr refuses it (start-up then failed with a stack,
      // after the database was opened); `true` says the same and is the form it takes.
      const everyAddress = entries.find((e) => /\/0+$/.test(e) && isAddressOrCidr(e));
      if (everyAddress !== undefined) {
        ctx.addIssue({ code: 'custom', message: `"${everyAddress}" is every address: to believe every hop, set true` });
        return z.NEVER;
      }
      const bad = entries.find((e) => !isAddressOrCidr(e));
      if (entries.length === 0 || bad !== undefined) {
        ctx.addIssue({ code: 'custom', message: `true, false, a hop count, or addresses/CIDR ranges separated by commas${bad ? ` ("${bad.slice(0, 60)}" is none of these)` : ''}` });
        return z.NEVER;
      }
      return entries;
    }),
  /** Slow clients: see src/http/server-limits.ts. Headers must arrive within the request timeout. */
  HTTP_HEADERS_TIMEOUT_MS: wholeNumber(100, 600_000, DEFAULT_HTTP_LIMITS.headersTimeoutMs),
  HTTP_REQUEST_TIMEOUT_MS: wholeNumber(100, 3_600_000, DEFAULT_HTTP_LIMITS.requestTimeoutMs),
  /** Uploads stream up to MAX_FILE_BYTES: 10 minutes by default, about 170 KB/s for 100 MB. */
  HTTP_UPLOAD_TIMEOUT_MS: wholeNumber(100, 86_400_000, DEFAULT_HTTP_LIMITS.uploadTimeoutMs),
  /** Above the idle timeout of a proxy or load balancer in front (60 s on most), or it sees resets. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: wholeNumber(100, 600_000, DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs),
  HTTP_MAX_CONNECTIONS: wholeNumber(1, 1_000_000, DEFAULT_HTTP_LIMITS.maxConnections),
  /** How long a stopping process waits for open requests and running jobs before it exits anyway. */
  SHUTDOWN_GRACE_MS: wholeNumber(0, 600_000, 15_000),
  /**
   * Sign client answers (Ed25519) on a second thread, so the event loop keeps answering. Takes
   * effect where sodium-native loaded and the machine has more than one CPU.
   */
  SIGNING_THREAD: booleanString.default(true),
  /**
   * Prefix of every BullMQ key in Redis; tests give each file its own. Unset, it is
   * `keycord:<first 8 of the installation id>`, so installations sharing a Redis never collide.
   */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]{1,64}$/)
    .optional(),
  /** How often the worker compares the queues with what the database says is unfinished. */
  JOB_RECONCILE_EVERY: duration('1m'),
  /** How often the expiry sweep runs: milliseconds, or a number with s/m/h. */
  EXPIRY_SWEEP_EVERY: duration('1m'),
  /** Days before expiry at which `license.expiring_soon` is sent, e.g. "3,1". */
  EXPIRY_NOTICE_DAYS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated whole days, e.g. 3,1')
    .default('3,1')
    .transform((v) => [...new Set(v.split(',').map(Number))].filter((d) => d > 0).sort((a, b) => b - a)),
  ALLOW_PRIVATE_WEBHOOK_URLS: booleanString.default(false),
  /**
   * Who may open the queue dashboard at /admin/queues: developer usernames (lower-cased) and
   * account ids (`#12` or `id:12`, kept as `#12`). Which accounts they are is settled when the
   * dashboard starts (src/http/routes/admin-queues.ts).
   */
  KEYCORD_OPERATORS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const entries = v
        .split(',')
        .map((u) => u.trim().toLowerCase())
        .filter(Boolean)
        .map((u) => u.replace(/^id:\s*(?=\d)/, '#'));
      const bad = entries.find((u) => !/^#[1-9]\d{0,9}$/.test(u) && !/^[a-z0-9_.-]{3,32}$/.test(u));
      if (bad === undefined) return [...new Set(entries)];
      ctx.addIssue({ code: 'custom', message: `developer usernames (3–32 of letters, digits, _ . -) or account ids (#12 or id:12), separated by commas ("${bad.slice(0, 60)}" is neither)` });
      return z.NEVER;
    }),
  GENERATE_BATCH_SIZE: wholeNumber(100, 50_000, 5000),
  WORKER_CONCURRENCY: wholeNumber(1, 100, 5),
  /** BullMQ lock: a job whose worker stopped renewing it is taken over after this. */
  JOB_LOCK_MS: wholeNumber(1000, 600_000, 30_000),
  OUTBOX_POLL_MS: wholeNumber(10, 60_000, 250),
  /** First webhook retry delay; later ones double (with jitter) up to about a day in all. */
  WEBHOOK_RETRY_BASE_MS: wholeNumber(10, 600_000, 5000),
  /** Seller API requests per token per minute. */
  SELLER_RATE_LIMIT_PER_MINUTE: wholeNumber(1, 1_000_000_000, 600),
  /** Login and sign-up attempts per IP per minute (developers and application users). */
  AUTH_RATE_LIMIT_PER_MINUTE: wholeNumber(1, 1_000_000_000, 10),
  DISCORD_MODE: z.enum(['gateway', 'http', 'off']).optional(),
  DISCORD_PUBLIC_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be the 64-hex public key of the Discord application')
    .optional(),
  DISCORD_TOKEN: z.string().min(20).optional(),
  DISCORD_APPLICATION_ID: z
    .string()
    .regex(/^\d{15,22}$/, 'must be a Discord snowflake')
    .optional(),
  DISCORD_API_URL: z.url().default('https://discord.com/api'),
  DISCORD_GUILD_ID: z
    .string()
    .regex(/^\d{15,22}$/, 'must be a Discord snowflake')
    .optional(),
  /**
   * Where the internet reaches this Keycord (e.g. https://keycord.example.com), as Discord does for
   * HTTP interactions. With it, /stats answers with its chart as a link Discord fetches, instead
   * of uploading a PNG with every reply, and the store integrations' URLs to paste start with it.
   */
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
});

/** The variables Keycord reads: what a `.env` file is checked strictly for (env-file.ts). */
export const CONFIG_VARIABLES: ReadonlySet<string> = new Set(Object.keys(envSchema.shape));

/** API.md: `http` when DISCORD_PUBLIC_KEY is set, else `gateway` when DISCORD_TOKEN is, else off. */
function discordConfig(e: z.output<typeof envSchema>): DiscordConfig {
  const mode = e.DISCORD_MODE ?? (e.DISCORD_PUBLIC_KEY ? 'http' : e.DISCORD_TOKEN ? 'gateway' : 'off');
  const missing = (name: string) => new ConfigError(`Invalid configuration:\n  ${name}: required when DISCORD_MODE=${mode}`);
  if (mode === 'http' && !e.DISCORD_PUBLIC_KEY) throw missing('DISCORD_PUBLIC_KEY');
  if (mode === 'gateway' && !e.DISCORD_TOKEN) throw missing('DISCORD_TOKEN');
  if (mode !== 'off' && !e.DISCORD_APPLICATION_ID) throw missing('DISCORD_APPLICATION_ID');
  return {
    mode,
    publicKey: e.DISCORD_PUBLIC_KEY?.toLowerCase(),
    token: e.DISCORD_TOKEN,
    applicationId: e.DISCORD_APPLICATION_ID,
    apiUrl: e.DISCORD_API_URL.replace(/\/$/, ''),
    guildId: e.DISCORD_GUILD_ID,
  };
}

function parseDuration(v: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v)!;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}

export type Config = {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  databasePreparedStatements: boolean;
  /** REDIS_URL, or the local default when JOB_PROVIDER=bullmq is asked for without one. */
  redisUrl: string;
  dataDir: string;
  /** Uploaded files, content-addressed by sha256 (DATA_DIR/files). */
  filesDir: string;
  maxFileBytes: number;
  secret: string;
  /** Where the secret came from: start-up tells the operator when it is not the environment. */
  secretSource: 'env' | 'generated' | 'data-dir';
  secretFile: string;
  /**
   * The permission bits of the kept secret file when other users may read it (group or others
   * have any): start-up warns. Only for a secret read from DATA_DIR, never on Windows.
   */
  secretFileLooseMode: number | undefined;
  /**
   * KEYCORD_SECRET is long enough but made of few different characters (`aaaa…`, a word repeated):
   * a guessable secret, unlike `openssl rand -hex 32`. Start-up warns; refusing would stop an
   * installation whose data is already encrypted under it.
   */
  secretLooksWeak: boolean;
  logLevel: string;
  usageFlushMs: number;
  appCacheTtlMs: number;
  sessionTtlHours: number;
  maxApplications: number;
  maxLicensesPerApplication: number;
  trustProxy: TrustProxy;
  http: HttpServerLimits;
  shutdownGraceMs: number;
  signingThread: boolean;
  /**
   * PUBLIC_URL without a trailing slash: where the internet reaches this Keycord. Discord fetches
   * what the bot links from it (charts), and stores call the integration URLs built on it.
   */
  publicUrl: string | undefined;
  jobs: JobsConfig;
  discord: DiscordConfig;
  rateLimits: { sellerPerMinute: number; authPerMinute: number };
};

export interface DiscordConfig {
  /** Which door interactions come through; 'off' when neither key nor token is set. */
  mode: 'gateway' | 'http' | 'off';
  publicKey: string | undefined;
  token: string | undefined;
  applicationId: string | undefined;
  apiUrl: string;
  guildId: string | undefined;
}

export interface JobsConfig {
  /** Who runs the jobs: `bullmq` (Redis at REDIS_URL) or `local` (this process, from the database). */
  provider: 'bullmq' | 'local';
  /** QUEUE_PREFIX, or `keycord` to which the installation id is added (`queuePrefixIsDefault`). */
  queuePrefix: string;
  queuePrefixIsDefault: boolean;
  reconcileEveryMs: number;
  expirySweepEveryMs: number;
  expiryNoticeDays: number[];
  allowPrivateWebhookUrls: boolean;
  operators: string[];
  generateBatchSize: number;
  workerConcurrency: number;
  lockMs: number;
  outboxPollMs: number;
  webhookRetryBaseMs: number;
}

/** Fastify's `trustProxy`: none, all, a hop count, or the proxies' addresses and ranges. */
export type TrustProxy = boolean | number | string[];

function isAddressOrCidr(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (!family || rest.length) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings come from `FOO=` in shells and compose files; treat them as unset.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError('Invalid configuration:\n  HTTP_HEADERS_TIMEOUT_MS: must not be longer than HTTP_REQUEST_TIMEOUT_MS (headers are part of the request)');
  }
  // The local provider on Postgres keeps one pooled connection in a transaction for as long as this
  // process runs the jobs (its runner lock): with a pool of one, every other statement waited for
  // good — "ready", then no request answered, and no stop either.
  if (e.DATABASE_URL && (e.JOB_PROVIDER ?? (e.REDIS_URL ? 'bullmq' : 'local')) === 'local' && e.DATABASE_POOL_SIZE < 2) {
    throw new ConfigError(
      'Invalid configuration:\n  DATABASE_POOL_SIZE: must be at least 2 when jobs run in this process on Postgres (no REDIS_URL, or JOB_PROVIDER=local): one connection holds the job runner lock',
    );
  }
  const dataDir = resolve(e.DATA_DIR);
  const secretFile = join(dataDir, 'keycord-secret');
  let secret = e.KEYCORD_SECRET;
  let secretSource: Config['secretSource'] = 'env';
  if (!secret) {
    if (e.NODE_ENV === 'production') {
      throw new ConfigError('Invalid configuration:\n  KEYCORD_SECRET: required when NODE_ENV=production');
    }
    const dev = readOrCreateDevSecret(secretFile, dataDir);
    secret = dev.secret;
    secretSource = dev.generated ? 'generated' : 'data-dir';
  }
  const secretFileLooseMode = secretSource === 'data-dir' ? looseModeOf(secretFile) : undefined;
  const secretLooksWeak = secretSource === 'env' && new Set(secret).size < MIN_SECRET_DISTINCT_CHARS;
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS,
    redisUrl: e.REDIS_URL ?? DEFAULT_REDIS_URL,
    dataDir,
    filesDir: join(dataDir, 'files'),
    maxFileBytes: e.MAX_FILE_BYTES,
    secret,
    secretSource,
    secretFile,
    secretFileLooseMode,
    secretLooksWeak,
    logLevel: e.LOG_LEVEL,
    usageFlushMs: e.USAGE_FLUSH_MS,
    appCacheTtlMs: e.APP_CACHE_TTL_MS,
    sessionTtlHours: e.SESSION_TTL_HOURS,
    maxApplications: e.MAX_APPLICATIONS,
    maxLicensesPerApplication: e.MAX_LICENSES_PER_APPLICATION,
    trustProxy: e.TRUST_PROXY,
    http: {
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      uploadTimeoutMs: e.HTTP_UPLOAD_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
    },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    signingThread: e.SIGNING_THREAD && availableParallelism() > 1,
    publicUrl: e.PUBLIC_URL,
    jobs: {
      provider: e.JOB_PROVIDER ?? (e.REDIS_URL ? 'bullmq' : 'local'),
      queuePrefix: e.QUEUE_PREFIX ?? 'keycord',
      queuePrefixIsDefault: e.QUEUE_PREFIX === undefined,
      reconcileEveryMs: e.JOB_RECONCILE_EVERY,
      expirySweepEveryMs: e.EXPIRY_SWEEP_EVERY,
      expiryNoticeDays: e.EXPIRY_NOTICE_DAYS,
      allowPrivateWebhookUrls: e.ALLOW_PRIVATE_WEBHOOK_URLS,
      operators: e.KEYCORD_OPERATORS,
      generateBatchSize: e.GENERATE_BATCH_SIZE,
      workerConcurrency: e.WORKER_CONCURRENCY,
      lockMs: e.JOB_LOCK_MS,
      outboxPollMs: e.OUTBOX_POLL_MS,
      webhookRetryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
    },
    discord: discordConfig(e),
    rateLimits: { sellerPerMinute: e.SELLER_RATE_LIMIT_PER_MINUTE, authPerMinute: e.AUTH_RATE_LIMIT_PER_MINUTE },
  };
}

/**
 * Development convenience: a secret made once and kept beside the data it protects. Processes
 * starting together on a fresh DATA_DIR (an API and a worker, a restart loop) must all end up with
 * the one secret the file keeps — a second one overwriting the first would leave whatever was
 * encrypted under it unreadable — so the file is written whole under a temporary name and
 * hard-linked into place (`link` fails when the name exists), and the loser reads the winner's.
 */
function readOrCreateDevSecret(file: string, dataDir: string): { secret: string; generated: boolean } {
  try {
    const kept = readDevSecret(file);
    if (kept !== undefined) return { secret: kept, generated: false };
    mkdirSync(dirname(file), { recursive: true });
    const secret = randomBytes(32).toString('hex');
    if (placeFileExclusively(file, secret + '\n', 0o600)) return { secret, generated: true };
    return { secret: readDevSecret(file) ?? secret, generated: false };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `Invalid configuration:\n  DATA_DIR: ${dataDir} cannot be used (${(err as Error).message}); the generated secret is kept there. ` +
        'Give the user running Keycord write access to it, or set DATA_DIR to a directory it can write (and KEYCORD_SECRET, so no secret has to be generated).',
    );
  }
}

/**
 * The permission bits of `file` when group or others have any: whoever reads the kept secret can
 * decrypt what Keycord stored with it. An existing file keeps whatever mode a copy, a restore or
 * an archive gave it, though Keycord creates it 0600. Windows has no such bits to check (Node
 * reports every file there as 0666).
 */
function looseModeOf(file: string): number | undefined {
  if (process.platform === 'win32') return undefined;
  const mode = (statSync(file, { throwIfNoEntry: false })?.mode ?? 0) & 0o777;
  return mode & 0o077 ? mode : undefined;
}

/** How long a kept secret file that is too short is given to fill, and how often it is read again meanwhile. */
const SECRET_FILL_WAIT_MS = 1000;
const SECRET_FILL_POLL_MS = 50;

/** The kept secret, undefined when there is no file; a file too short to be one stops start-up. */
function readDevSecret(file: string): string | undefined {
  // A file too short may be one another process is still writing: where the file system has no
  // hard links it is created first and written after (place-file.ts). Given a moment to fill.
  let secret = '';
  for (let waitedMs = 0; ; waitedMs += SECRET_FILL_POLL_MS) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    secret = text.trim();
    if (secret.length >= MIN_SECRET_LENGTH) return secret;
    if (waitedMs >= SECRET_FILL_WAIT_MS) break;
    // loadConfig is synchronous: a blocking pause, at most a second, only for a short file.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SECRET_FILL_POLL_MS);
  }
  // Never replaced here: what was encrypted under the lost secret may still be recovered with it.
  throw new ConfigError(
    `Invalid configuration:\n  KEYCORD_SECRET: not set, and ${file} holds no usable secret (${secret.length} characters, at least ${MIN_SECRET_LENGTH} needed). ` +
      'Data in DATA_DIR is encrypted with the secret that was there: restore the file from a backup or set KEYCORD_SECRET to that secret. ' +
      'Only if DATA_DIR holds nothing worth keeping, delete the file to have a new one generated.',
  );
}
