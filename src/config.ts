import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Every environment variable Keycord reads, parsed in one place. A bad value stops start-up with
 * a message naming the variable, so an operator never chases a misconfiguration at run time.
 */
const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  DATA_DIR: z.string().min(1).default('./data'),
  KEYCORD_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters (use `openssl rand -hex 32`)')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How often coalesced validation side effects (last_used, ip, counters) are written. */
  USAGE_FLUSH_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** How long an application's settings and signing key stay cached per API instance. */
  APP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 90).default(24 * 7),
  MAX_APPLICATIONS: z.coerce.number().int().min(1).default(50),
  MAX_LICENSES_PER_APPLICATION: z.coerce.number().int().min(1).default(1_000_000),
  TRUST_PROXY: booleanString.default(false),
});

export type Config = {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  redisUrl: string;
  dataDir: string;
  secret: string;
  /** Where the secret came from: start-up tells the operator when it is not the environment. */
  secretSource: 'env' | 'generated' | 'data-dir';
  secretFile: string;
  logLevel: string;
  usageFlushMs: number;
  appCacheTtlMs: number;
  sessionTtlHours: number;
  maxApplications: number;
  maxLicensesPerApplication: number;
  trustProxy: boolean;
};

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
  const dataDir = resolve(e.DATA_DIR);
  const secretFile = join(dataDir, 'keycord-secret');
  let secret = e.KEYCORD_SECRET;
  let secretSource: Config['secretSource'] = 'env';
  if (!secret) {
    if (e.NODE_ENV === 'production') {
      throw new ConfigError('Invalid configuration:\n  KEYCORD_SECRET: required when NODE_ENV=production');
    }
    const dev = readOrCreateDevSecret(secretFile);
    secret = dev.secret;
    secretSource = dev.generated ? 'generated' : 'data-dir';
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    dataDir,
    secret,
    secretSource,
    secretFile,
    logLevel: e.LOG_LEVEL,
    usageFlushMs: e.USAGE_FLUSH_MS,
    appCacheTtlMs: e.APP_CACHE_TTL_MS,
    sessionTtlHours: e.SESSION_TTL_HOURS,
    maxApplications: e.MAX_APPLICATIONS,
    maxLicensesPerApplication: e.MAX_LICENSES_PER_APPLICATION,
    trustProxy: e.TRUST_PROXY,
  };
}

/** Development convenience: a secret made once and kept beside the data it protects. */
function readOrCreateDevSecret(file: string): { secret: string; generated: boolean } {
  if (existsSync(file)) return { secret: readFileSync(file, 'utf8').trim(), generated: false };
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return { secret, generated: true };
}
