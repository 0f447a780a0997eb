/**
 * `npm run bench:memory` — how much memory does `keycord start` (role all) hold once it is up and
 * idle, and how much of it is Keycord's own?
 *
 * Each configuration is the real process (`node bin/keycord.js start`, as `npm start` runs it),
 * started on a port of its own, warmed up through the API (register, application, plan, licenses,
 * validations), then left idle; a preloaded probe (support/memory-probe.mjs) reports V8's heaps
 * and the kernel's resident set twice: after BENCH_IDLE_S, and once settled (BENCH_SETTLED_S:
 * past the nonce thread's idle end and V8's idle-time collections). The floor is a bare Fastify + postgres.js process, with and
 * without tsx's loader (bin/keycord.js runs the TypeScript sources through it). Configurations
 * alternate within each round (order reversed every other round) so a noisy machine weighs on all
 * of them alike. Numbers are printed, never asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_ROUNDS        rounds (default 2)
 *   BENCH_IDLE_S        idle time after the warm-up, before the first reading (default 10)
 *   BENCH_SETTLED_S     idle time after the warm-up, before the second reading (default 70; 0: none)
 *   BENCH_ONLY          comma-separated configuration names to run (default all)
 *   BENCH_DATABASE_URL  admin connection used to create/drop the bench databases
 *   REDIS_URL           Redis for the bullmq configuration (default redis://127.0.0.1:6379)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '../src/db/client.js';
import { runMigrations } from '../src/db/migrate.js';
import { createBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import { hostSpeedCheckMs } from './support/cpu.js';
import { flushRedisPrefix } from './support/keycord-instance.js';
import { BENCH_ROOT, envInt } from './support/validate-setup.js';

const ROUNDS = envInt('BENCH_ROUNDS', 2);
const IDLE_S = envInt('BENCH_IDLE_S', 10);
const SETTLED_S = process.env.BENCH_SETTLED_S === '0' ? 0 : Math.max(envInt('BENCH_SETTLED_S', 70), IDLE_S);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const GOAL_MB = 150;
const PROBE = join(BENCH_ROOT, 'bench/support/memory-probe.mjs');
const BARE_SERVER = join(BENCH_ROOT, 'bench/support/bare-memory-server.mjs');
const KEYCORD_BIN = join(BENCH_ROOT, 'bin/keycord.js');

interface Reading {
  usage: NodeJS.MemoryUsage;
  heap: { mallocedMemory: number; externalMemory: number };
  kernel: { rss: number; peakRss: number; threads: number };
}

/** The readings of one process: after the short idle, and settled (when measured). */
interface Readings {
  idle: Reading;
  settled?: Reading;
}

interface Configuration {
  name: string;
  description: string;
  /** Held to the 150 MB goal (the Postgres configurations of issue 11). */
  goal: boolean;
  keycord: boolean;
  args: string[];
  env: Record<string, string>;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The caller's environment without anything that would point Keycord elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(DATABASE_|REDIS_URL|JOB_PROVIDER|QUEUE_PREFIX|DISCORD_|KEYCORD_OPERATORS|SIGNING_THREAD|NODE_OPTIONS|PORT|HOST|DATA_DIR|VITEST)/.test(k)) delete env[k];
  }
  return env;
}

async function startMeasured(config: Configuration): Promise<{ child: ChildProcess; base: string; output: () => string }> {
  const port = await freePort();
  const env = { ...cleanEnv(), ...config.env, PORT: String(port), HOST: '127.0.0.1' };
  const child = spawn(process.execPath, ['--import', PROBE, ...config.args], { cwd: BENCH_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  // A first PGlite start creates its database (initdb in WebAssembly): allow for it.
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${config.name} exited (code ${child.exitCode}):\n${output}`);
    try {
      if ((await fetch(`${base}/api/health`)).ok) return { child, base, output: () => output };
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${config.name} did not become healthy:\n${output}`);
}

/** A few requests of each kind a fresh installation serves first, so idle is measured after real use. */
async function warmUp(base: string): Promise<void> {
  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, any>;
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const who = randomBytes(4).toString('hex');
  const { token } = await call('POST', '/api/auth/register', { email: `memory-${who}@example.test`, username: `memory${who}`, password: 'correct horse battery' });
  const application = await call('POST', '/api/applications', { name: 'Memory App', settings: { rate_limit_per_minute: 0 } }, token);
  const plan = await call('POST', '/api/plans/', { application_id: application.id, name: 'Monthly', duration_days: 30 }, token);
  const { licenses } = await call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 20, format: 'random' }, token);
  for (const [i, license] of (licenses as { license_key: string }[]).slice(0, 10).entries()) {
    const answer = await call('POST', '/api/licenses/validate', { app_id: application.app_id, license_key: license.license_key, hwid: `MEMORY-PC-${i}` });
    if (answer.code !== 'VALID') throw new Error(`validate answered ${JSON.stringify(answer)}`);
  }
  await call('GET', '/api/licenses/mine', undefined, token);
  await call('GET', '/api/health');
}

function readMemory(child: ChildProcess): Promise<Reading> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the memory probe did not answer')), 10_000);
    child.on('message', function onMessage(m: { type?: string } & Reading) {
      if (m?.type !== 'memory') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    });
    child.send({ type: 'memory' });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

async function measure(config: Configuration): Promise<Readings> {
  const started = performance.now();
  const { child, base, output } = await startMeasured(config);
  try {
    const ready = performance.now();
    if (config.keycord) await warmUp(base);
    else for (let i = 0; i < 10; i++) await (await fetch(`${base}/api/health`)).text();
    const warmedAt = performance.now();
    const idleFor = (s: number) => new Promise((r) => setTimeout(r, Math.max(0, warmedAt + s * 1000 - performance.now())));
    await idleFor(IDLE_S);
    const idle = await readMemory(child);
    console.log(`  ${row(`${config.name} @${IDLE_S}s`, idle)}   (ready in ${((ready - started) / 1000).toFixed(1)} s)`);
    if (!SETTLED_S) return { idle };
    await idleFor(SETTLED_S);
    const settled = await readMemory(child);
    console.log(`  ${row(`${config.name} @${SETTLED_S}s`, settled)}`);
    return { idle, settled };
  } catch (err) {
    console.error(output());
    throw err;
  } finally {
    await stop(child);
  }
}

const HEADER = `  ${'configuration, idle for'.padEnd(26)} ${'RSS'.padStart(7)} ${'peak'.padStart(7)} ${'heap used'.padStart(10)} ${'heap total'.padStart(10)} ${'external'.padStart(9)} ${'arr.buf'.padStart(8)} ${'not JS heap'.padStart(11)} ${'threads'.padStart(7)}   (MB)`;

function row(name: string, r: Reading): string {
  const { usage, kernel } = r;
  return `${name.padEnd(26)} ${mb(kernel.rss).padStart(7)} ${mb(kernel.peakRss).padStart(7)} ${mb(usage.heapUsed).padStart(10)} ${mb(usage.heapTotal).padStart(10)} ${mb(usage.external).padStart(9)} ${mb(usage.arrayBuffers).padStart(8)} ${mb(kernel.rss - usage.heapTotal).padStart(11)} ${String(kernel.threads).padStart(7)}`;
}

async function main() {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const dataDirs: string[] = [];
  const tmpDataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'keycord-memory-'));
    dataDirs.push(dir);
    return dir;
  };
  const databases: BenchDatabase[] = [];
  const prefix = `keycord_memory_${randomBytes(3).toString('hex')}`;
  const cleanup = async () => {
    await flushRedisPrefix(REDIS_URL, prefix).catch((err: Error) => console.error(`could not clean Redis prefix ${prefix}: ${err.message}`));
    for (const db of databases) await db.drop().catch(() => {});
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    console.log('\ninterrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    const secret = randomBytes(32).toString('hex');
    const keycordEnv = (extra: Record<string, string>) => ({ NODE_ENV: 'production', KEYCORD_SECRET: secret, LOG_LEVEL: 'warn', DATA_DIR: tmpDataDir(), ...extra });
    // Migrated here, so every round measures a process that opens an existing database.
    const migratedDatabase = async () => {
      const bench = await createBenchDatabase('keycord_memory');
      databases.push(bench);
      const db = await createDb({ databaseUrl: bench.url, dataDir: tmpdir(), poolSize: 1 });
      await runMigrations(db);
      await db.close();
      return bench.url;
    };
    const all: Configuration[] = [
      { name: 'bare node', description: 'Fastify + postgres.js, one SELECT route', goal: false, keycord: false, args: [BARE_SERVER], env: {} },
      { name: 'bare tsx', description: 'the same, loaded through tsx as bin/keycord.js does', goal: false, keycord: false, args: ['--import', 'tsx', BARE_SERVER], env: {} },
      { name: 'postgres+redis', description: 'DATABASE_URL + REDIS_URL (bullmq); no KEYCORD_OPERATORS, so no Bull Board', goal: true, keycord: true, args: [KEYCORD_BIN, 'start'], env: {} },
      {
        name: 'postgres+redis+ops',
        description: 'the same with KEYCORD_OPERATORS set: Bull Board loaded',
        goal: false,
        keycord: true,
        args: [KEYCORD_BIN, 'start'],
        env: { KEYCORD_OPERATORS: 'ops' },
      },
      { name: 'postgres+local', description: 'DATABASE_URL, no REDIS_URL (local job provider)', goal: true, keycord: true, args: [KEYCORD_BIN, 'start'], env: {} },
      { name: 'pglite', description: 'no DATABASE_URL: the embedded database (WebAssembly), local jobs', goal: false, keycord: true, args: [KEYCORD_BIN, 'start'], env: {} },
    ];
    const configurations = all.filter((c) => !only || only.includes(c.name));
    for (const c of configurations) {
      if (!c.keycord) {
        c.env = { DATABASE_URL: await migratedDatabase() };
      } else if (c.name.startsWith('postgres+redis')) {
        c.env = keycordEnv({ DATABASE_URL: await migratedDatabase(), REDIS_URL, QUEUE_PREFIX: prefix, ...c.env });
      } else if (c.name === 'postgres+local') {
        c.env = keycordEnv({ DATABASE_URL: await migratedDatabase() });
      } else {
        c.env = keycordEnv({});
      }
    }

    console.log('Keycord idle memory benchmark');
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}; host speed check ${hostSpeedCheckMs().toFixed(0)} ms`);
    const readingsAt = SETTLED_S ? `${IDLE_S} s and ${SETTLED_S} s` : `${IDLE_S} s`;
    console.log(`  process   node bin/keycord.js start (role all, Discord off), warmed up through the API, read after ${readingsAt} idle; ${ROUNDS} rounds`);
    for (const c of configurations) console.log(`  ${c.name.padEnd(22)} ${c.description}`);
    console.log('  (pglite: the first round creates the embedded database in a fresh DATA_DIR, later rounds reopen it)');

    const readings = new Map<string, Readings[]>(configurations.map((c) => [c.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      console.log(`\nround ${round}/${ROUNDS}   host speed check ${hostSpeedCheckMs().toFixed(0)} ms`);
      console.log(HEADER);
      const order = round % 2 ? configurations : [...configurations].reverse();
      for (const c of order) readings.get(c.name)!.push(await measure(c));
    }

    console.log(`\nmedian of ${ROUNDS} rounds (MB)   host speed check ${hostSpeedCheckMs().toFixed(0)} ms`);
    const which: ('idle' | 'settled')[] = SETTLED_S ? ['idle', 'settled'] : ['idle'];
    for (const when of which) {
      const seconds = when === 'idle' ? IDLE_S : SETTLED_S;
      const rssOf = (name: string) => median(readings.get(name)!.map((r) => r[when]!.kernel.rss));
      const floor = readings.get('bare tsx')?.length ? rssOf('bare tsx') : undefined;
      for (const c of configurations) {
        const rss = rssOf(c.name);
        const heapUsed = median(readings.get(c.name)!.map((r) => r[when]!.usage.heapUsed));
        const own = c.keycord && floor !== undefined ? `   Keycord's own ${mb(rss - floor).padStart(6)} over bare tsx` : '';
        const goal = c.goal ? `   goal ≤ ${GOAL_MB}: ${rss / 1e6 <= GOAL_MB ? 'met' : `missed by ${mb(rss - GOAL_MB * 1e6)}`}` : '';
        console.log(`  ${`${c.name} @${seconds}s`.padEnd(26)} RSS ${mb(rss).padStart(6)}   heap used ${mb(heapUsed).padStart(6)}${own}${goal}`);
      }
    }
  } finally {
    await cleanup();
  }
}

await main();
