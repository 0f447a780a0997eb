/**
 * `npm run bench:validate` — how fast is POST /api/licenses/validate compared with the cheapest
 * honest way to read a license over HTTP?
 *
 * A fresh database is created, migrated and seeded through the real API; the server runs in a
 * child process (the real app plus a bare one-SELECT route), and autocannon drives both from
 * here with 50 connections. Numbers are printed, never asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_DURATION_S       validation run length (default 60)
 *   BENCH_BARE_DURATION_S  bare-route run length (default min(20, BENCH_DURATION_S))
 *   BENCH_WARMUP_S         warm-up per target (default 5)
 *   BENCH_LICENSES         licenses seeded (default 5000)
 *   BENCH_CPU_PROF=1       write a V8 CPU profile of the server per measured run to bench/profiles/
 *   BENCH_DATABASE_URL     admin connection used to create/drop the bench database
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { createDeps, runMigrations } from '../src/runtime.js';
import { createBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import { cpuPerRequest, cpuSnapshot } from './support/cpu.js';
import { runLoad, type LoadResult, type Target } from './support/load.js';
import { seedThroughApi, type Seeded } from './support/seed.js';
import type { ParentMessage, ServerMessage } from './validate-server.js';

const envInt = (name: string, fallback: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
};

const DURATION_S = envInt('BENCH_DURATION_S', 60);
const BARE_DURATION_S = envInt('BENCH_BARE_DURATION_S', Math.min(20, DURATION_S));
const WARMUP_S = envInt('BENCH_WARMUP_S', 5);
const LICENSES = envInt('BENCH_LICENSES', 5000);
const CONNECTIONS = 50;
const WINDOW_S = 10;
const TARGET_RATIO = 1.0;
const TARGET_P99_MS = 15;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const PROFILE_DIR = join(ROOT, 'bench', 'profiles');
const SERVER = fileURLToPath(new URL('./validate-server.ts', import.meta.url));

/** The environment both the seeding app (here) and the server (child) run Keycord with. */
function keycordEnv(databaseUrl: string, secret: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    KEYCORD_SECRET: secret,
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: join(tmpdir(), 'keycord-bench-data'),
  };
}

async function seed(env: Record<string, string>): Promise<Seeded & { postgresVersion: string; poolSize: number }> {
  const config = loadConfig({ ...process.env, ...env });
  const deps = await createDeps(config);
  try {
    await runMigrations(deps.db);
    const app = await buildApp(deps);
    try {
      const seeded = await seedThroughApi(app, LICENSES);
      const [v] = await deps.db.query<{ server_version: string }>('show server_version');
      return { ...seeded, postgresVersion: v?.server_version ?? '?', poolSize: config.databasePoolSize };
    } finally {
      await app.close();
    }
  } finally {
    await deps.usage.stop();
    await deps.db.close();
  }
}

async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(SERVER, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`bench server exited early (code ${code})`);
  });
  const listening = new Promise<number>((resolve) => {
    child.on('message', (m: ServerMessage) => {
      if (m.type === 'listening') resolve(m.port);
    });
  });
  const port = await Promise.race([listening, exited]);
  exited.catch(() => {}); // from here on, the exit is expected (stopServer)
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Sends `message` to the server and waits for the answer of type `answer`. */
function ask(child: ChildProcess, message: ParentMessage, answer: ServerMessage['type']): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: ServerMessage) => {
      if (m.type !== answer) return;
      child.off('message', onMessage);
      resolve();
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** One request by hand: the body every benchmarked response must equal, after checking it is the right answer. */
async function expectedBody(url: string, body: string, check: (res: Response, json: Record<string, unknown>) => void): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  check(res, JSON.parse(text));
  return text;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, 2)} ms`;

function summary(label: string, r: LoadResult): string {
  const problems = `non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}, wrong bodies ${r.mismatches}`;
  return `${label.padEnd(10)} ${fmt(r.reqPerSec).padStart(7)} req/s   p50 ${ms(r.p50).padStart(8)}   p99 ${ms(r.p99).padStart(8)}   (${fmt(r.requests)} requests in ${fmt(r.seconds, 1)} s; ${problems})`;
}

async function main() {
  const secret = randomBytes(32).toString('hex');
  let db: BenchDatabase | undefined;
  let child: ChildProcess | undefined;
  const cleanup = async () => {
    if (child) await stopServer(child).catch(() => child?.kill('SIGKILL'));
    if (db) await db.drop();
  };
  process.once('SIGINT', () => {
    console.log('\ninterrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    db = await createBenchDatabase();
    const env = keycordEnv(db.url, secret);
    const seeded = await seed(env);
    const server = await startServer(env);
    child = server.child;
    const base = `http://127.0.0.1:${server.port}`;

    console.log(`Keycord validation benchmark`);
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(seeded.licenseCount)} licenses, benchmarked key active with its HWID; pool ${seeded.poolSize} per client`);
    console.log(`  load      autocannon, ${CONNECTIONS} connections, server in a child process; warm-up ${WARMUP_S} s per target`);
    console.log(`  runs      bare ${BARE_DURATION_S} s, validate ${DURATION_S} s`);

    const bareBody = JSON.stringify({ application_id: seeded.applicationId, license_key: seeded.licenseKey });
    const bare: Target = {
      name: 'bare',
      url: `${base}/bench/bare`,
      body: bareBody,
      expectBody: await expectedBody(`${base}/bench/bare`, bareBody, (res, json) => {
        if (res.status !== 200 || json.license_key !== seeded.licenseKey) throw new Error(`bare route answered ${res.status} ${JSON.stringify(json)}`);
      }),
    };
    const validateBody = JSON.stringify({ app_id: seeded.appId, license_key: seeded.licenseKey, hwid: seeded.hwid });
    const validate: Target = {
      name: 'validate',
      url: `${base}/api/licenses/validate`,
      body: validateBody,
      expectBody: await expectedBody(`${base}/api/licenses/validate`, validateBody, (res, json) => {
        if (res.status !== 200 || json.code !== 'VALID' || !res.headers.get('x-signature-ed25519')) {
          throw new Error(`validate answered ${res.status} ${JSON.stringify(json)}`);
        }
      }),
    };
    console.log(`  requests  bare: POST /bench/bare (one indexed SELECT via postgres.js, row as JSON)`);
    console.log(`            validate: POST /api/licenses/validate ${validateBody} → ${validate.expectBody.length} B, code VALID, Ed25519-signed`);
    console.log('');

    // Each target is warmed (JIT, prepared statements, pool connections) right before it is measured.
    const serverPid = child.pid!;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    if (PROFILE) await mkdir(PROFILE_DIR, { recursive: true });
    const databaseName = db.name;
    const measure = async (target: Target, durationS: number) => {
      await runLoad(target, { connections: CONNECTIONS, durationS: WARMUP_S });
      if (PROFILE) await ask(child!, { type: 'profile-start' }, 'profiling');
      const before = cpuSnapshot(serverPid, databaseName);
      const result = await runLoad(target, { connections: CONNECTIONS, durationS, windowS: WINDOW_S });
      const after = cpuSnapshot(serverPid, databaseName);
      if (PROFILE) await ask(child!, { type: 'profile-stop', file: join(PROFILE_DIR, `${target.name}-${stamp}.cpuprofile`) }, 'profiled');
      return { result, cpu: cpuPerRequest(before, after, result.requests, result.seconds) };
    };
    const bareRun = await measure(bare, BARE_DURATION_S);
    console.log(summary('bare', bareRun.result));
    const validateRun = await measure(validate, DURATION_S);
    console.log(summary('validate', validateRun.result));
    const bareResult = bareRun.result;
    const validateResult = validateRun.result;

    if (bareRun.cpu && validateRun.cpu) {
      console.log('');
      console.log(`CPU per request (µs; ${cpus().length} cores shared by all three):`);
      for (const [label, c] of [['bare', bareRun.cpu], ['validate', validateRun.cpu]] as const) {
        const total = c.server + c.postgres + c.loadgen;
        console.log(
          `  ${label.padEnd(9)} server ${fmt(c.server, 1).padStart(5)}   postgres ${fmt(c.postgres, 1).padStart(5)}   autocannon ${fmt(c.loadgen, 1).padStart(5)}   total ${fmt(total, 1).padStart(5)}` +
            `   (other processes meanwhile: ${fmt(c.otherCores, 2)} cores)`,
        );
      }
      const busiest = Math.max(bareRun.cpu.otherCores, validateRun.cpu.otherCores);
      if (busiest > 0.1) {
        console.log(`  note: other processes took up to ${fmt(busiest, 2)} of the ${cpus().length} cores during a run; the numbers above are lower and noisier than on an idle machine`);
      }
    }

    const ratio = validateResult.reqPerSec / bareResult.reqPerSec;
    const meets = ratio >= TARGET_RATIO && validateResult.p99 < TARGET_P99_MS;
    console.log('');
    console.log(`ratio validate/bare: ${fmt(ratio, 3)}x req/s; validate p99 ${ms(validateResult.p99)}`);
    console.log(`target (≥ ${fmt(TARGET_RATIO, 1)}x bare, p99 < ${TARGET_P99_MS} ms): ${meets ? 'met' : 'NOT met'}`);
    console.log('');
    console.log(`validate per ${WINDOW_S} s window:`);
    for (const w of validateResult.windows) {
      console.log(`  ${`${fmt(w.fromS)}–${fmt(w.toS)} s`.padEnd(10)} ${fmt(w.reqPerSec).padStart(7)} req/s   p50 ${ms(w.p50).padStart(8)}   p99 ${ms(w.p99).padStart(8)}`);
    }
    const first = validateResult.windows[0];
    const last = validateResult.windows.at(-1);
    if (first && last && validateResult.windows.length > 1) {
      console.log(`steadiness: last/first window ${fmt(last.reqPerSec / first.reqPerSec, 2)}x req/s, p99 ${ms(first.p99)} → ${ms(last.p99)}`);
    } else {
      console.log(`steadiness: run too short for more than one ${WINDOW_S} s window`);
    }
    if (PROFILE) console.log(`\nCPU profiles of the server (one per target, profiler overhead included): bench/profiles/*-${stamp}.cpuprofile`);
  } finally {
    await cleanup();
  }
}

await main();
