/**
 * `npm run bench:validate` — how fast is POST /api/licenses/validate compared with the cheapest
 * honest way to read a license over HTTP?
 *
 * A fresh database is created, migrated and seeded through the real API; the server runs in a
 * child process (the real app plus a bare one-SELECT route), and autocannon drives both from
 * here with 50 connections. Numbers are printed, never asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_DURATION_S       validation run length (default 60)
 *   BENCH_BARE_DURATION_S  bare-route run length, half before and half after validate (default min(20, BENCH_DURATION_S))
 *   BENCH_WARMUP_S         warm-up per target (default 5)
 *   BENCH_LICENSES         licenses seeded (default 5000)
 *   BENCH_CPU_PROF=1       write a V8 CPU profile of the server per measured run to bench/profiles/
 *   BENCH_DATABASE_URL     admin connection used to create/drop the bench database
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import { cpuPerRequest, cpuSnapshot, hostSpeedCheckMs, type CpuPerRequest } from './support/cpu.js';
import { combineRuns, runLoad, type LoadResult, type Target } from './support/load.js';
import { ask, BENCH_ROOT, envInt, expectedBody, keycordEnv, seed, startServer, stopServer, validateTarget } from './support/validate-setup.js';

const DURATION_S = envInt('BENCH_DURATION_S', 60);
const BARE_DURATION_S = envInt('BENCH_BARE_DURATION_S', Math.min(20, DURATION_S));
const WARMUP_S = envInt('BENCH_WARMUP_S', 5);
const LICENSES = envInt('BENCH_LICENSES', 5000);
const CONNECTIONS = 50;
const WINDOW_S = 10;
const TARGET_RATIO = 1.0;
const TARGET_P99_MS = 15;

const PROFILE = process.env.BENCH_CPU_PROF === '1';
const PROFILE_DIR = join(BENCH_ROOT, 'bench', 'profiles');

/** CPU per request over two runs, weighted by their requests. */
function combineCpu(...runs: { result: LoadResult; cpu: CpuPerRequest | null }[]): CpuPerRequest | null {
  if (runs.some((r) => !r.cpu)) return null;
  const requests = runs.reduce((s, r) => s + r.result.requests, 0);
  const seconds = runs.reduce((s, r) => s + r.result.seconds, 0);
  const weighted = (key: 'server' | 'postgres' | 'loadgen') => runs.reduce((s, r) => s + r.cpu![key] * r.result.requests, 0) / requests;
  const otherCores = runs.reduce((s, r) => s + r.cpu!.otherCores * r.result.seconds, 0) / seconds;
  return { server: weighted('server'), postgres: weighted('postgres'), loadgen: weighted('loadgen'), otherCores };
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
    const seeded = await seed(env, LICENSES);
    const server = await startServer(env);
    child = server.child;
    const base = `http://127.0.0.1:${server.port}`;

    console.log(`Keycord validation benchmark`);
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(seeded.licenseCount)} licenses, benchmarked key active with its HWID; pool ${seeded.poolSize} per client`);
    console.log(`  load      autocannon, ${CONNECTIONS} connections, server in a child process; warm-up ${WARMUP_S} s per target`);
    console.log(`  runs      bare ${BARE_DURATION_S / 2} s, validate ${DURATION_S} s, bare ${BARE_DURATION_S / 2} s (the baseline is both bare runs)`);

    const bareBody = JSON.stringify({ application_id: seeded.applicationId, license_key: seeded.licenseKey });
    const bare: Target = {
      name: 'bare',
      url: `${base}/bench/bare`,
      body: bareBody,
      expectBody: await expectedBody(`${base}/bench/bare`, bareBody, (res, json) => {
        if (res.status !== 200 || json.license_key !== seeded.licenseKey) throw new Error(`bare route answered ${res.status} ${JSON.stringify(json)}`);
      }),
    };
    const validate: Target = await validateTarget(base, seeded);
    console.log(`  requests  bare: POST /bench/bare (one indexed SELECT via postgres.js, row as JSON)`);
    console.log(`            validate: POST /api/licenses/validate ${validate.body} → ${validate.expectBody.length} B, code VALID, Ed25519-signed`);
    console.log('');

    // Each target is warmed (JIT, prepared statements, pool connections) right before it is measured.
    const serverPid = child.pid!;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    let profiled = 0;
    if (PROFILE) await mkdir(PROFILE_DIR, { recursive: true });
    const databaseName = db.name;
    const measure = async (target: Target, durationS: number) => {
      await runLoad(target, { connections: CONNECTIONS, durationS: WARMUP_S });
      const hostCheckMs = hostSpeedCheckMs();
      if (PROFILE) await ask(child!, { type: 'profile-start' }, 'profiling');
      await ask(child!, { type: 'gc-stats' }, 'gc-stats'); // resets the server's count
      const before = cpuSnapshot(serverPid, databaseName);
      const result = await runLoad(target, { connections: CONNECTIONS, durationS, windowS: WINDOW_S });
      const after = cpuSnapshot(serverPid, databaseName);
      const { stats: gc } = await ask(child!, { type: 'gc-stats' }, 'gc-stats');
      if (PROFILE) await ask(child!, { type: 'profile-stop', file: join(PROFILE_DIR, `${target.name}-${stamp}-${++profiled}.cpuprofile`) }, 'profiled');
      return { result, cpu: cpuPerRequest(before, after, result.requests, result.seconds), gc, hostCheckMs };
    };
    // The baseline is measured half before and half after the validation run, so a machine whose
    // speed drifts during the bench (a shared host) shifts both sides of the ratio alike.
    const bareBefore = await measure(bare, BARE_DURATION_S / 2);
    console.log(summary('bare 1/2', bareBefore.result));
    const validateRun = await measure(validate, DURATION_S);
    console.log(summary('validate', validateRun.result));
    const bareAfter = await measure(bare, BARE_DURATION_S / 2);
    console.log(summary('bare 2/2', bareAfter.result));
    const bareResult = combineRuns('bare', [bareBefore.result, bareAfter.result]);
    console.log(summary('bare', bareResult));
    const bareRun = { cpu: combineCpu(bareBefore, bareAfter) };
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

    console.log('');
    console.log('server GC pauses, and the host speed check before each run (a fixed loop in this process; higher = slower host):');
    for (const [label, run] of [['bare 1/2', bareBefore], ['validate', validateRun], ['bare 2/2', bareAfter]] as const) {
      const share = run.gc.totalMs / (run.result.seconds * 1000);
      console.log(
        `  ${label.padEnd(9)} ${fmt(run.gc.pauses).padStart(6)} pauses, ${fmt(share * 100, 1)}% of the run, longest ${ms(run.gc.longestMs)}   host check ${fmt(run.hostCheckMs)} ms`,
      );
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
