import { mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { LICENSE_LOOKUP_SQL } from '../src/core/licenses/license-lookup.js';
import { BASELINES, baselineLines, baselinePath, checkBaseline, roundOrder, signedComparison, type Baseline } from './support/baselines.js';
import { tableWrites, updatesSince } from './support/table-writes.js';
import { combineCpu, cpuLine, cpuPerRequest, cpuSnapshot, hostSpeedCheckMs, type CpuPerRequest } from './support/cpu.js';
import { combineRuns, runLoad, type LoadResult, type Target } from './support/load.js';
import { ask, BENCH_ROOT, envInt, expectedBody, runServerBench, seed, startServer, validateTarget } from './support/validate-setup.js';

const MODES = (process.env.BENCH_MODES ?? 'repeated,random').split(',').map((m) => m.trim());
const ROUNDS = envInt('BENCH_ROUNDS', 4);
const ROUND_S = envInt('BENCH_ROUND_S', 10);
const WARMUP_S = envInt('BENCH_WARMUP_S', 5);
const LICENSES = envInt('BENCH_LICENSES', 100_000);
const BLACKLIST = envInt('BENCH_BLACKLIST', 0);
const CONNECTIONS = 50;
const TARGET_RATIO = 1.0;
const TARGET_P99_MS = 15;

const PROFILE = process.env.BENCH_CPU_PROF === '1';
const PROFILE_DIR = join(BENCH_ROOT, 'bench', 'profiles');

for (const mode of MODES) if (mode !== 'repeated' && mode !== 'random') throw new Error(`BENCH_MODES: unknown mode "${mode}" (repeated, random)`);

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, 2)} ms`;

function summary(label: string, r: LoadResult): string {
  const problems = `non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}, wrong bodies ${r.mismatches}`;
  return `${label.padEnd(16)} ${fmt(r.reqPerSec).padStart(7)} req/s   p50 ${ms(r.p50).padStart(8)}   p99 ${ms(r.p99).padStart(8)}   (${fmt(r.requests)} requests in ${fmt(r.seconds, 1)} s; ${problems})`;
}

interface Run {
  result: LoadResult;
  cpu: CpuPerRequest | null;
  gc: { pauses: number; totalMs: number; longestMs: number };
  hostCheckMs: number;
}

/** The plan Postgres uses for validation's lookup as a prepared (generic) statement over `keys` keys. */
async function lookupPlan(databaseUrl: string, applicationId: number, keys: string[]): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await sql.begin(async (tx) => {
      await tx.unsafe('set local plan_cache_mode = force_generic_plan');
      await tx.unsafe(`prepare bench_lookup(int[], text[]) as ${LICENSE_LOOKUP_SQL}`);
      const list = (xs: (string | number)[]) => `array[${xs.map((x) => (typeof x === 'number' ? x : `'${x}'`)).join(',')}]`;
      const rows = await tx.unsafe(`explain (costs off) execute bench_lookup(${list(keys.map(() => applicationId))}, ${list(keys)})`);
      await tx.unsafe('deallocate bench_lookup');
      return rows.map((r) => String(r['QUERY PLAN']));
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** `count` entries, a third each HWIDs, IPv4 /24s and IPv6 /48s, none matching the bench's client. */
async function seedBlacklist(url: string, applicationId: number, count: number) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const third = Math.ceil(count / 3);
    await sql`insert into blacklist_entries (application_id, type, value, network)
      select ${applicationId}::int, 'hwid', 'BENCH-BAD-' || i, null from generate_series(1, ${third}::int) i
      union all select ${applicationId}::int, 'ip', v, v::cidr from (select '10.' || (i / 256) || '.' || (i % 256) || '.0/24' as v from generate_series(0, ${third - 1}::int) i) r
      union all select ${applicationId}::int, 'ip', v, v::cidr from (select '2001:db8:' || to_hex(i) || '::/48' as v from generate_series(0, ${count - 2 * third - 1}::int) i) r`;
    await sql`update applications set blacklist_version = blacklist_version + 1 where id = ${applicationId}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main() {
  await runServerBench(async ({ db, env, made }) => {
    const seeded = await seed(env, LICENSES, { bindEveryKey: MODES.includes('random') });
    if (BLACKLIST > 0) await seedBlacklist(db.url, seeded.applicationId, BLACKLIST);
    const server = await startServer(env);
    const child = (made.child = server.child);
    const base = `http://127.0.0.1:${server.port}`;

    console.log(`Keycord validation benchmark`);
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(seeded.licenseCount)} licenses; pool ${seeded.poolSize} per client; ${fmt(BLACKLIST)} blacklist entries`);
    console.log(`  load      autocannon, ${CONNECTIONS} connections, server in a child process; warm-up ${WARMUP_S} s per target and mode`);
    console.log(`  rounds    ${ROUNDS} per mode, ${ROUND_S} s per target per round, order rotating; modes: ${MODES.join(', ')}`);
    const requestLines = [...baselineLines(), 'validate: POST /api/licenses/validate → code VALID, Ed25519-signed'];
    requestLines.forEach((line, i) => console.log(`${i === 0 ? '  requests  ' : '            '}${line}`));

    type Side = Baseline | 'validate';
    const sides: readonly Side[] = [...BASELINES, 'validate'];
    /** A baseline's target for one key's body, its answer checked by hand first. */
    const bareTarget = async (baseline: Baseline, body: string): Promise<Target> => {
      const url = `${base}${baselinePath(baseline)}`;
      return { name: baseline, url, body, expectBody: await expectedBody(url, body, checkBaseline(baseline, JSON.parse(body).license_key)) };
    };

    const targets: Record<string, { targets: Record<Side, Target>; about: string }> = {};
    if (MODES.includes('repeated')) {
      const bareBody = JSON.stringify({ application_id: seeded.applicationId, license_key: seeded.licenseKey });
      targets.repeated = {
        about: `one key (active, with its HWID) in every request`,
        targets: { bare: await bareTarget('bare', bareBody), signed: await bareTarget('signed', bareBody), validate: await validateTarget(base, seeded) },
      };
    }
    if (MODES.includes('random')) {
      const keys = seeded.boundKeys;
      const validateBodies = keys.map((k) => JSON.stringify({ app_id: seeded.appId, license_key: k.licenseKey, hwid: k.hwid }));
      const bareBodies = keys.map((k) => JSON.stringify({ application_id: seeded.applicationId, license_key: k.licenseKey }));
      const first = await validateTarget(base, { ...seeded, licenseKey: keys[0]!.licenseKey, hwid: keys[0]!.hwid });
      // Probed once with the first key (bareTarget's checks), then a random key per request.
      const randomBare = async (side: Baseline): Promise<Target> => ({
        ...(await bareTarget(side, bareBodies[0]!)),
        expectBody: '',
        random: { bodies: bareBodies, accepts: (body) => body.includes('"license_key":"') },
      });
      targets.random = {
        about: `a random one of ${fmt(keys.length)} keys per request, each active with its own HWID`,
        targets: { bare: await randomBare('bare'), signed: await randomBare('signed'), validate: { ...first, random: { bodies: validateBodies, accepts: (body) => body.includes('"code":"VALID"') } } },
      };
      const plan = await lookupPlan(
        db.url,
        seeded.applicationId,
        keys.slice(0, 50).map((k) => k.licenseKey),
      );
      console.log(`  lookup    validation's license read, prepared (generic plan), 50 keys:`);
      for (const line of plan) console.log(`              ${line}`);
    }
    console.log('');

    const serverPid = child.pid!;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    let profiled = 0;
    if (PROFILE) await mkdir(PROFILE_DIR, { recursive: true });
    const databaseName = db.name;
    const measure = async (target: Target, durationS: number): Promise<Run> => {
      const hostCheckMs = hostSpeedCheckMs();
      if (PROFILE) await ask(child!, { type: 'profile-start' }, 'profiling');
      await ask(child!, { type: 'gc-stats' }, 'gc-stats'); // resets the server's count
      const before = cpuSnapshot(serverPid, databaseName);
      const result = await runLoad(target, { connections: CONNECTIONS, durationS, windowS: durationS });
      const after = cpuSnapshot(serverPid, databaseName);
      const { stats: gc } = await ask(child!, { type: 'gc-stats' }, 'gc-stats');
      if (PROFILE) await ask(child!, { type: 'profile-stop', file: join(PROFILE_DIR, `${target.name}-${stamp}-${++profiled}.cpuprofile`) }, 'profiled');
      return { result, cpu: cpuPerRequest(before, after, result.requests, result.seconds), gc, hostCheckMs };
    };

    const verdicts: string[] = [];
    for (const mode of MODES) {
      const { targets: modeTargets, about } = targets[mode]!;
      console.log(`── ${mode}: ${about}`);
      // Each target is warmed (JIT, prepared statements, pool connections) before the rounds.
      for (const side of sides) await runLoad(modeTargets[side], { connections: CONNECTIONS, durationS: WARMUP_S });
      const runs = Object.fromEntries(sides.map((side) => [side, [] as Run[]])) as Record<Side, Run[]>;
      const writesBefore = await tableWrites(db.url, ['licenses', 'validation_logs'] as const);
      for (let round = 1; round <= ROUNDS; round++) {
        for (const side of roundOrder(sides, round)) {
          const run = await measure(modeTargets[side], ROUND_S);
          runs[side].push(run);
          const cpu = run.cpu ? `   server ${fmt(run.cpu.server, 1)} µs/req, postgres ${fmt(run.cpu.postgres, 1)} µs/req` : '';
          console.log(`${summary(`round ${round} ${side}`, run.result)}   host check ${fmt(run.hostCheckMs)} ms${cpu}`);
        }
      }
      const all = Object.fromEntries(
        sides.map((side) => [
          side,
          combineRuns(
            side,
            runs[side].map((r) => r.result),
          ),
        ]),
      ) as Record<Side, LoadResult>;
      for (const side of sides) console.log(summary(`${mode} ${side}`, all[side]));
      const bareAll = all.bare;
      const validateAll = all.validate;
      for (const baseline of BASELINES) {
        const perRound = runs.validate.map((v, i) => v.result.reqPerSec / runs[baseline][i]!.result.reqPerSec);
        console.log(`per-round ratio validate/${baseline}: ${perRound.map((r) => fmt(r, 3)).join(' ')}`);
      }

      const cpuOf = (rs: Run[]) => combineCpu(rs.map((r) => ({ cpu: r.cpu, requests: r.result.requests, seconds: r.result.seconds })));
      for (const side of sides) {
        const cpu = cpuOf(runs[side]);
        if (cpu) console.log(cpuLine(side, cpu));
      }
      const gc = runs.validate.reduce((s, r) => ({ pauses: s.pauses + r.gc.pauses, totalMs: s.totalMs + r.gc.totalMs, longestMs: Math.max(s.longestMs, r.gc.longestMs) }), {
        pauses: 0,
        totalMs: 0,
        longestMs: 0,
      });
      console.log(`server GC during validate rounds: ${fmt(gc.pauses)} pauses, ${fmt((gc.totalMs / (validateAll.seconds * 1000)) * 100, 1)}% of the time, longest ${ms(gc.longestMs)}`);

      const writes = await tableWrites(db.url, ['licenses', 'validation_logs'] as const);
      const logLines = writes.validation_logs.inserts - writesBefore.validation_logs.inserts;
      console.log(`usage flushes: license ${updatesSince(writesBefore.licenses, writes.licenses)}, ${fmt(logLines)} validation log lines, for ${fmt(validateAll.requests)} validations`);
      const ratio = validateAll.reqPerSec / bareAll.reqPerSec;
      const meets = ratio >= TARGET_RATIO && validateAll.p99 < TARGET_P99_MS;
      const verdict = `${mode}: ratio validate/bare ${fmt(ratio, 3)}x req/s; p50 ${ms(validateAll.p50)} vs ${ms(bareAll.p50)}, p99 ${ms(validateAll.p99)} vs ${ms(bareAll.p99)}; target (≥ ${fmt(TARGET_RATIO, 1)}x, p99 < ${TARGET_P99_MS} ms) ${meets ? 'met' : 'NOT met'}`;
      console.log(verdict);
      verdicts.push(verdict);
      if (BASELINES.includes('signed')) {
        const line = signedComparison(mode, 'validate', fmt(validateAll.reqPerSec / all.signed.reqPerSec, 3), ms(validateAll.p99), ms(all.signed.p99));
        console.log(line);
        verdicts.push(line);
      }
      console.log('');
    }
    console.log('summary');
    for (const v of verdicts) console.log(`  ${v}`);
    if (PROFILE) console.log(`\nCPU profiles of the server (one per run, profiler overhead included): bench/profiles/*-${stamp}.cpuprofile`);
  });
}

await main();
