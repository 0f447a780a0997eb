/**
 * A whole Keycord in this process for a benchmark: a fresh database (created, migrated, dropped
 * at the end), a queue prefix of its own in Redis (its keys deleted at the end), the job system
 * with its workers, and the HTTP app driven through `app.inject`. Used by bench/generate.ts and
 * bench/webhooks.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { loadConfig, type Config } from '../../src/config.js';
import type { Deps } from '../../src/core/deps.js';
import type { JobSystem } from '../../src/jobs/job-system.js';
import { startKeycord, type Keycord } from '../../src/start-keycord.js';
import type { WorkerMessage } from './keycord-worker.js';
import { forkUntilReady, stopChild } from './child-process.js';

/** Admin connection used to create and drop the bench database (trust auth on this machine). */
const BENCH_ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, got "${raw}"`);
  return n;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function machineLine(): string {
  const [one] = loadavg();
  return `Node ${process.version}, load average ${fmt(one ?? 0, 2)} at start`;
}

async function withAdmin<T>(fn: (admin: postgres.Sql) => Promise<T>): Promise<T> {
  const admin = postgres(BENCH_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    return await fn(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Deletes every Redis key under `prefix:` (BullMQ keeps all of a prefix's queues there). */
export async function flushRedisPrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export interface KeycordInstance {
  config: Config;
  deps: Deps;
  jobs: JobSystem;
  app: FastifyInstance;
  databaseName: string;
  databaseUrl: string;
  queuePrefix: string;
  /** Where the outbox relay and the BullMQ workers run. */
  workers: 'in-process' | 'child';
  /** The worker child's pid (workers: 'child'), for CPU accounting. */
  workerPid?: number;
  /** Stops everything, drops the database, deletes the prefix's Redis keys. Safe to call twice. */
  close(): Promise<void>;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./keycord-worker.ts', import.meta.url));

/**
 * Starts Keycord: the API (used through `app.inject`) in this process, the outbox relay and the
 * BullMQ workers either here too or in a child process (`--role worker`, as production would
 * split them). `env` adds Keycord settings (e.g. OUTBOX_POLL_MS); GENERATE_BATCH_SIZE,
 * WORKER_CONCURRENCY, DATABASE_POOL_SIZE and OUTBOX_POLL_MS are also taken from the environment
 * when set there, so a tuning run needs no code change.
 */
export async function startBenchKeycord(label: string, env: Record<string, string> = {}, opts: { workers?: 'in-process' | 'child' } = {}): Promise<KeycordInstance> {
  const workers = opts.workers ?? 'in-process';
  const tag = `${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const databaseName = `keycord_bench_${label}_${tag}`;
  const queuePrefix = `kcbench_${label}_${tag}`;
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();

  const passThrough = Object.fromEntries(['GENERATE_BATCH_SIZE', 'WORKER_CONCURRENCY', 'DATABASE_POOL_SIZE', 'OUTBOX_POLL_MS'].filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));
  const keycordEnv: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    DATA_DIR: join(tmpdir(), 'keycord-bench-data'),
    KEYCORD_SECRET: randomBytes(32).toString('hex'),
    // A bench polls and bans far faster than a seller would; it measures throughput, not limits.
    SELLER_RATE_LIMIT_PER_MINUTE: '1000000',
    ...passThrough,
    ...env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: BENCH_REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
  };
  const config = loadConfig(keycordEnv);

  await withAdmin((admin) => admin.unsafe(`create database ${databaseName}`));
  let child: ChildProcess | undefined;
  let keycord: Keycord | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    if (child) await stopWorker(child);
    await keycord?.close().catch(() => {});
    await flushRedisPrefix(BENCH_REDIS_URL, queuePrefix).catch((err: Error) => console.error(`could not clean Redis prefix ${queuePrefix}: ${err.message}`));
    await withAdmin((admin) => admin.unsafe(`drop database if exists ${databaseName} with (force)`)).catch((err: Error) => console.error(`could not drop ${databaseName}: ${err.message}`));
  };
  try {
    // As `keycord start` assembles it: --role all, or --role api with the workers in a child.
    keycord = await startKeycord(config, { role: workers === 'in-process' ? 'all' : 'api' });
    if (workers === 'child') child = await startWorker({ ...keycordEnv });
  } catch (err) {
    await close();
    throw err;
  }
  return { config, deps: keycord.deps, jobs: keycord.jobs!, app: keycord.app!, databaseName, databaseUrl, queuePrefix, workers, ...(child?.pid ? { workerPid: child.pid } : {}), close };
}

async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const execArgv = process.env.BENCH_WORKER_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [];
  const { child } = await forkUntilReady(WORKER_SCRIPT, { env, execArgv, label: 'Keycord worker process' }, (m) => ((m as WorkerMessage).type === 'ready' ? true : undefined));
  return child;
}

const stopWorker = stopChild;

export interface SeededSeller {
  token: string;
  developerId: number;
  applicationId: number;
  appId: string;
  planId: number;
  durationDays: number;
  call<T = any>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: object): Promise<{ status: number; json: T }>;
}

/** A developer, an application and a 30-day plan, made through the real HTTP API. */
export async function seedSeller(app: FastifyInstance): Promise<SeededSeller> {
  let token = '';
  const call: SeededSeller['call'] = async (method, url, body) => {
    const res = await app.inject({ method, url, ...(body ? { payload: body } : {}), headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
    return { status: res.statusCode, json: res.json() };
  };
  const registered = await call('POST', '/api/auth/register', { email: 'bench@example.test', username: 'bench', password: 'correct horse battery' });
  token = registered.json.token;
  const developerId: number = registered.json.developer.id;
  const application = (await call('POST', '/api/applications', { name: 'Bench App' })).json;
  const plan = (await call('POST', '/api/plans/', { application_id: application.id, name: 'Monthly', duration_days: 30 })).json;
  return { token, developerId, applicationId: application.id, appId: application.app_id, planId: plan.id, durationDays: plan.duration_days, call };
}

/** Runs `cleanup` on Ctrl-C before exiting, so an interrupted run leaves no database behind. */
export function cleanupOnInterrupt(cleanup: () => Promise<void>) {
  process.once('SIGINT', () => {
    console.log('\ninterrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  });
}

/** CPU seconds used so far by this process, PostgreSQL, Redis and the whole machine (Linux /proc). */
export interface CpuTimes {
  node: number;
  /** The worker child process, when there is one. */
  worker: number | null;
  postgres: number;
  redis: number;
  machine: number;
}

const TICKS_PER_S = 100; // USER_HZ on every mainstream Linux build

function procSeconds(pid: string): { comm: string; seconds: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, close), seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S };
  } catch {
    return null; // gone between listing and reading
  }
}

export function cpuTimes(workerPid?: number): CpuTimes | null {
  try {
    let postgres = 0;
    let redis = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const p = procSeconds(pid);
      if (p?.comm === 'postgres') postgres += p.seconds;
      else if (p?.comm.startsWith('redis-server')) redis += p.seconds;
    }
    const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
    const [user, nice, system, , , irq, softirq, steal] = cpu!.trim().split(/\s+/).slice(1).map(Number);
    const self = process.cpuUsage();
    const worker = workerPid ? (procSeconds(String(workerPid))?.seconds ?? null) : null;
    return { node: (self.user + self.system) / 1e6, worker, postgres, redis, machine: (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_S };
  } catch {
    return null;
  }
}

export interface CpuUse {
  node: number;
  worker: number | null;
  postgres: number;
  redis: number;
  /** Everything else on the machine meanwhile (on a shared machine: other people's work). */
  other: number;
  wallMs: number;
}

export function cpuUse(before: CpuTimes | null, after: CpuTimes | null, wallMs: number): CpuUse | null {
  if (!before || !after) return null;
  const d = (k: keyof CpuTimes) => (after[k] ?? 0) - (before[k] ?? 0);
  const worker = after.worker !== null ? d('worker') : null;
  const other = Math.max(0, d('machine') - d('node') - (worker ?? 0) - d('postgres') - d('redis'));
  return { node: d('node'), worker, postgres: d('postgres'), redis: d('redis'), other, wallMs };
}

/** "this process 1.20 s, postgres 2.30 s, redis 0.20 s, anything else 0.10 s — of 2 cores × 3.00 s" */
export function cpuLine(use: CpuUse | null, cores: number): string {
  if (!use) return 'CPU use not available (Linux /proc only)';
  const s = (n: number) => `${fmt(n, 2)} s`;
  const worker = use.worker !== null ? `, worker process ${s(use.worker)}` : '';
  return `this process ${s(use.node)}${worker}, postgres ${s(use.postgres)}, redis ${s(use.redis)}, anything else ${s(use.other)} — of ${cores} cores × ${s(use.wallMs / 1000)}`;
}
