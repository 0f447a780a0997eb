import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { combineRuns, runLoad, type LoadResult, type Target } from './support/load.js';
import { ask, BENCH_ROOT, envInt, expectedBody, runServerBench, seed, startServer, turnSeatsOn } from './support/validate-setup.js';
import { tableWrites, transactionsSoFar, updatesSince } from './support/table-writes.js';
import { combineCpu, cpuLine, cpuPerRequest, cpuSnapshot, type CpuPerRequest } from './support/cpu.js';

const MODES = (process.env.BENCH_MODES ?? 'repeated,random').split(',').map((m) => m.trim());
const ROUNDS = envInt('BENCH_ROUNDS', 4);
const ROUND_S = envInt('BENCH_ROUND_S', 10);
const WARMUP_S = envInt('BENCH_WARMUP_S', 5);
const LICENSES = envInt('BENCH_LICENSES', 20_000);
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const PROFILE_DIR = join(BENCH_ROOT, 'bench', 'profiles');
const CONNECTIONS = 50;
const WRITTEN_TABLES = ['license_seats', 'licenses', 'validation_logs'] as const;
const SEATS = 3;
const TARGET_RATIO = 0.8;

for (const mode of MODES) if (mode !== 'repeated' && mode !== 'random') throw new Error(`BENCH_MODES: unknown mode "${mode}" (repeated, random)`);

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, 2)} ms`;
const summary = (label: string, r: LoadResult) =>
  `${label.padEnd(20)} ${fmt(r.reqPerSec).padStart(7)} req/s   p50 ${ms(r.p50).padStart(8)}   p99 ${ms(r.p99).padStart(8)}   (${fmt(r.requests)} requests; non-2xx ${r.non2xx}, errors ${r.errors}, wrong bodies ${r.mismatches})`;

async function main() {
  await runServerBench(async ({ db, env, made }) => {
    const seeded = await seed(env, LICENSES, { bindEveryKey: true });
    await turnSeatsOn(db.url, seeded.applicationId, SEATS);
    const server = await startServer(env);
    const child = (made.child = server.child);
    const base = `http://127.0.0.1:${server.port}`;

    console.log('Keycord heartbeat (floating seats) benchmark');
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(seeded.licenseCount)} licenses, max_concurrent ${SEATS}; pool ${seeded.poolSize}`);
    console.log(`  load      autocannon, ${CONNECTIONS} connections; warm-up ${WARMUP_S} s; ${ROUNDS} rounds of ${ROUND_S} s per target, order alternating`);
    console.log('  requests  bare: POST /bench/bare (one indexed SELECT); heartbeat: POST /api/licenses/heartbeat → VALID, Ed25519-signed');
    console.log('');

    const keys = seeded.boundKeys;
    const heartbeatUrl = `${base}/api/licenses/heartbeat`;
    const bareUrl = `${base}/bench/bare`;
    const heartbeatBody = (k: { licenseKey: string; hwid: string }) => JSON.stringify({ app_id: seeded.appId, license_key: k.licenseKey, hwid: k.hwid });
    const bareBody = (k: { licenseKey: string }) => JSON.stringify({ application_id: seeded.applicationId, license_key: k.licenseKey });
    const one = keys[Math.floor(keys.length / 2)]!;
    const checkHeartbeat = (res: Response, json: Record<string, unknown>) => {
      if (res.status !== 200 || json.code !== 'VALID' || json.seats_max !== SEATS || !res.headers.get('x-signature-ed25519'))
        throw new Error(`heartbeat answered ${res.status} ${JSON.stringify(json)}`);
    };
    const checkBare = (res: Response, json: Record<string, unknown>) => {
      if (res.status !== 200 || typeof json.license_key !== 'string') throw new Error(`bare route answered ${res.status} ${JSON.stringify(json)}`);
    };
    // The first heartbeat takes the seat; from the second on the answer (seats_used 1) is what every request gets.
    await expectedBody(heartbeatUrl, heartbeatBody(one), checkHeartbeat);

    const targets: Record<string, { bare: Target; heartbeat: Target }> = {
      repeated: {
        bare: { name: 'bare', url: bareUrl, body: bareBody(one), expectBody: await expectedBody(bareUrl, bareBody(one), checkBare) },
        heartbeat: { name: 'heartbeat', url: heartbeatUrl, body: heartbeatBody(one), expectBody: await expectedBody(heartbeatUrl, heartbeatBody(one), checkHeartbeat) },
      },
      random: {
        bare: { name: 'bare', url: bareUrl, body: bareBody(one), expectBody: '', random: { bodies: keys.map(bareBody), accepts: (b) => b.includes('"license_key":"') } },
        heartbeat: { name: 'heartbeat', url: heartbeatUrl, body: heartbeatBody(one), expectBody: '', random: { bodies: keys.map(heartbeatBody), accepts: (b) => b.includes('"code":"VALID"') } },
      },
    };

    const verdicts: string[] = [];
    for (const mode of MODES) {
      const { bare, heartbeat } = targets[mode]!;
      console.log(`── ${mode}`);
      for (const t of [bare, heartbeat]) await runLoad(t, { connections: CONNECTIONS, durationS: WARMUP_S });
      const runs = { bare: [] as LoadResult[], heartbeat: [] as LoadResult[] };
      const cpus = { bare: [] as (CpuPerRequest | null)[], heartbeat: [] as (CpuPerRequest | null)[] };
      const commits = { bare: 0, heartbeat: 0 };
      const writesBefore = await tableWrites(db.url, WRITTEN_TABLES);
      for (let round = 1; round <= ROUNDS; round++) {
        const order = round % 2 === 1 ? (['bare', 'heartbeat'] as const) : (['heartbeat', 'bare'] as const);
        for (const side of order) {
          const profiled = PROFILE && side === 'heartbeat';
          if (profiled) await ask(child!, { type: 'profile-start' }, 'profiling');
          const commitsBefore = await transactionsSoFar(db!.url);
          const before = cpuSnapshot(child!.pid!, db!.name);
          const result = await runLoad(side === 'bare' ? bare : heartbeat, { connections: CONNECTIONS, durationS: ROUND_S, windowS: ROUND_S });
          if (profiled) {
            await mkdir(PROFILE_DIR, { recursive: true });
            await ask(child!, { type: 'profile-stop', file: join(PROFILE_DIR, `heartbeat-${mode}-${round}.cpuprofile`) }, 'profiled');
          }
          cpus[side].push(cpuPerRequest(before, cpuSnapshot(child!.pid!, db!.name), result.requests, result.seconds));
          runs[side].push(result);
          commits[side] += (await transactionsSoFar(db!.url)) - commitsBefore;
          console.log(summary(`round ${round} ${side}`, result));
        }
      }
      const bareAll = combineRuns('bare', runs.bare);
      const heartbeatAll = combineRuns('heartbeat', runs.heartbeat);
      console.log(summary(`${mode} bare`, bareAll));
      console.log(summary(`${mode} heartbeat`, heartbeatAll));
      for (const side of ['bare', 'heartbeat'] as const) {
        const c = combineCpu(runs[side].map((r, i) => ({ cpu: cpus[side][i]!, requests: r.requests, seconds: r.seconds })));
        if (c) console.log(cpuLine(side, c));
      }
      const per = (side: 'bare' | 'heartbeat') => fmt(commits[side] / runs[side].reduce((n, r) => n + r.requests, 0), 3);
      console.log(`database transactions per request (round trips that commit): bare ${per('bare')}, heartbeat ${per('heartbeat')}`);
      const writes = await tableWrites(db.url, WRITTEN_TABLES);
      console.log(
        `usage flushes: seats ${updatesSince(writesBefore.license_seats, writes.license_seats)}, licenses ${updatesSince(writesBefore.licenses, writes.licenses)}, ${fmt(writes.validation_logs.inserts - writesBefore.validation_logs.inserts)} validation log lines`,
      );
      console.log(`per-round ratio heartbeat/bare: ${runs.heartbeat.map((r, i) => fmt(r.reqPerSec / runs.bare[i]!.reqPerSec, 3)).join(' ')}`);
      const ratio = heartbeatAll.reqPerSec / bareAll.reqPerSec;
      const verdict = `${mode}: ratio heartbeat/bare ${fmt(ratio, 3)}x req/s; p50 ${ms(heartbeatAll.p50)} vs ${ms(bareAll.p50)}, p99 ${ms(heartbeatAll.p99)} vs ${ms(bareAll.p99)}; target (≥ ${fmt(TARGET_RATIO, 1)}x) ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}`;
      console.log(verdict);
      console.log('');
      verdicts.push(verdict);
    }
    console.log('summary');
    for (const v of verdicts) console.log(`  ${v}`);
  });
}

await main();
