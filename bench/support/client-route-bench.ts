import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { combineRuns, runLoad, type LoadResult, type Target } from './load.js';
import { ask, BENCH_ROOT, envInt, expectedBody, runServerBench, seed, startServer } from './validate-setup.js';
import { BASELINES, baselineLines, baselinePath, checkBaseline, roundOrder, signedComparison, type Baseline } from './baselines.js';
import { tableWrites, transactionsSoFar, updatesSince, type TableWrites } from './table-writes.js';
import { combineCpu, cpuLine, cpuPerRequest, cpuSnapshot, type CpuPerRequest } from './cpu.js';
import type { BoundKey, Seeded } from './seed.js';

/**
 * One client route of the licensing API (heartbeat, lease, …) against the bare one-SELECT route
 * (and that route signing its answers: baselines.ts), in the same run and on the same server: every
 * key of the fleet bound to a HWID of its own, rounds rotating the sides' order, modes `repeated` (one key) and `random` (any of the keys). What a
 * route has of its own (its setup, its answer, the table it writes, its target) is a `ClientRoute`.
 *
 * Environment: BENCH_MODES, BENCH_ROUNDS, BENCH_ROUND_S, BENCH_WARMUP_S, BENCH_LICENSES, BENCH_CPU_PROF,
 * BENCH_SIGNED_BASELINE.
 */
export interface ClientRoute {
  /** Short name, in every line ("round 1 heartbeat") and in profile file names. */
  name: string;
  /** Path of the POST, e.g. /api/licenses/heartbeat. */
  path: string;
  title: string;
  /** On the database line after the license count: the setting that shapes this route ("max_concurrent 3"). */
  setting: string;
  /** On the requests line after "→": what a right answer is. */
  answer: string;
  /** Run on the seeded database before the server starts, so no cache holds the settings from before. */
  setup?: (databaseUrl: string, seeded: Seeded) => Promise<void>;
  /** Checks the answer of a request sent by hand (status, code, fields, signature header); throws if wrong. */
  check: (res: Response, json: Record<string, unknown>) => void;
  /** What every answer under load must contain where it is not compared byte for byte. */
  accepts: string;
  /**
   * Whether one key's answer is the same bytes every time (then `repeated` compares them whole);
   * not so for an answer holding the time it was made, as a lease does.
   */
  sameAnswerEachTime: boolean;
  /**
   * The table the route itself writes, besides the usage flush's licenses and validation_logs:
   * written with the usage flush (heartbeat's held seats), or before each answer, in one statement
   * shared by the answers of the same event-loop turn (a lease's record).
   */
  ownTable: { name: string; label: string; written: 'with the usage flush' | 'before the answer' };
  /** The least route/bare req/s ratio wanted; null: no target, the ratio is only measured. */
  targetRatio: number | null;
}

const MODES = (process.env.BENCH_MODES ?? 'repeated,random').split(',').map((m) => m.trim());
const ROUNDS = envInt('BENCH_ROUNDS', 4);
const ROUND_S = envInt('BENCH_ROUND_S', 10);
const WARMUP_S = envInt('BENCH_WARMUP_S', 5);
const LICENSES = envInt('BENCH_LICENSES', 20_000);
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const PROFILE_DIR = join(BENCH_ROOT, 'bench', 'profiles');
const CONNECTIONS = 50;

/**
 * A busy PostgreSQL backend reports its statistics at most once a second, and what it still holds
 * when it goes idle only 10 s later (PGSTAT_IDLE_INTERVAL). Waiting that long before and after a
 * mode's rounds counts just the rounds' table writes: without the warm-up's tail, with the last round's.
 */
const statisticsSettled = () => new Promise((resolve) => setTimeout(resolve, 11_000));

type Side = Baseline | 'route';
const SIDES: readonly Side[] = [...BASELINES, 'route'];

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, 2)} ms`;
const summary = (label: string, r: LoadResult) =>
  `${label.padEnd(20)} ${fmt(r.reqPerSec).padStart(7)} req/s   p50 ${ms(r.p50).padStart(8)}   p99 ${ms(r.p99).padStart(8)}   (${fmt(r.requests)} requests; non-2xx ${r.non2xx}, errors ${r.errors}, wrong bodies ${r.mismatches})`;

export async function runClientRouteBench(route: ClientRoute): Promise<void> {
  for (const mode of MODES) if (mode !== 'repeated' && mode !== 'random') throw new Error(`BENCH_MODES: unknown mode "${mode}" (repeated, random)`);
  const label = (side: Side) => (side === 'route' ? route.name : side);
  const writtenTables = [route.ownTable.name, 'licenses', 'validation_logs'];

  await runServerBench(async ({ db, env, made }) => {
    const seeded = await seed(env, LICENSES, { bindEveryKey: true });
    await route.setup?.(db.url, seeded);
    const server = await startServer(env);
    const child = (made.child = server.child);
    const base = `http://127.0.0.1:${server.port}`;

    console.log(route.title);
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(seeded.licenseCount)} licenses, ${route.setting}; pool ${seeded.poolSize}`);
    console.log(`  load      autocannon, ${CONNECTIONS} connections; warm-up ${WARMUP_S} s; ${ROUNDS} rounds of ${ROUND_S} s per target, order rotating`);
    const requestLines = [...baselineLines(), `${route.name}: POST ${route.path} → ${route.answer}`];
    requestLines.forEach((line, i) => console.log(`${i === 0 ? '  requests  ' : '            '}${line}`));
    console.log('');

    const targets = await targetsOf(route, base, seeded, seeded.boundKeys);
    const verdicts: string[] = [];
    for (const mode of MODES) {
      const modeTargets = targets[mode as keyof typeof targets];
      console.log(`── ${mode}`);
      for (const side of SIDES) await runLoad(modeTargets[side], { connections: CONNECTIONS, durationS: WARMUP_S });
      const runs: Record<Side, LoadResult[]> = { bare: [], signed: [], route: [] };
      const cpu: Record<Side, (CpuPerRequest | null)[]> = { bare: [], signed: [], route: [] };
      const commits: Record<Side, number> = { bare: 0, signed: 0, route: 0 };
      await statisticsSettled();
      const writesBefore = await tableWrites(db.url, writtenTables);
      for (let round = 1; round <= ROUNDS; round++) {
        for (const side of roundOrder(SIDES, round)) {
          const profiled = PROFILE && side === 'route';
          if (profiled) await ask(child, { type: 'profile-start' }, 'profiling');
          const commitsBefore = await transactionsSoFar(db.url);
          const before = cpuSnapshot(child.pid!, db.name);
          const result = await runLoad(modeTargets[side], { connections: CONNECTIONS, durationS: ROUND_S, windowS: ROUND_S });
          if (profiled) {
            await mkdir(PROFILE_DIR, { recursive: true });
            await ask(child, { type: 'profile-stop', file: join(PROFILE_DIR, `${route.name}-${mode}-${round}.cpuprofile`) }, 'profiled');
          }
          cpu[side].push(cpuPerRequest(before, cpuSnapshot(child.pid!, db.name), result.requests, result.seconds));
          runs[side].push(result);
          commits[side] += (await transactionsSoFar(db.url)) - commitsBefore;
          console.log(summary(`round ${round} ${label(side)}`, result));
        }
      }
      const all = Object.fromEntries(SIDES.map((side) => [side, combineRuns(label(side), runs[side])])) as Record<Side, LoadResult>;
      for (const side of SIDES) console.log(summary(`${mode} ${label(side)}`, all[side]));
      for (const side of SIDES) {
        const c = combineCpu(runs[side].map((r, i) => ({ cpu: cpu[side][i]!, requests: r.requests, seconds: r.seconds })));
        if (c) console.log(cpuLine(label(side), c));
      }
      const per = (side: Side) => fmt(commits[side] / all[side].requests, 3);
      console.log(`database transactions per request (round trips that commit): ${SIDES.map((side) => `${label(side)} ${per(side)}`).join(', ')}`);
      await statisticsSettled();
      for (const line of writeLines(route, writesBefore, await tableWrites(db.url, writtenTables), all.route.requests)) console.log(line);
      for (const baseline of BASELINES) console.log(`per-round ratio ${route.name}/${baseline}: ${runs.route.map((r, i) => fmt(r.reqPerSec / runs[baseline][i]!.reqPerSec, 3)).join(' ')}`);
      const ratio = all.route.reqPerSec / all.bare.reqPerSec;
      const goal = route.targetRatio === null ? 'no target: measured' : `target (≥ ${fmt(route.targetRatio, 1)}x) ${ratio >= route.targetRatio ? 'met' : 'NOT met'}`;
      const verdict = `${mode}: ratio ${route.name}/bare ${fmt(ratio, 3)}x req/s; p50 ${ms(all.route.p50)} vs ${ms(all.bare.p50)}, p99 ${ms(all.route.p99)} vs ${ms(all.bare.p99)}; ${goal}`;
      console.log(verdict);
      verdicts.push(verdict);
      if (BASELINES.includes('signed')) {
        const line = signedComparison(mode, route.name, fmt(all.route.reqPerSec / all.signed.reqPerSec, 3), ms(all.route.p99), ms(all.signed.p99));
        console.log(line);
        verdicts.push(line);
      }
      console.log('');
    }
    console.log('summary');
    for (const v of verdicts) console.log(`  ${v}`);
  });
}

/** Both modes' targets (baselines and route), after checking by hand that each answers as it should. */
async function targetsOf(route: ClientRoute, base: string, seeded: Seeded, keys: BoundKey[]): Promise<Record<'repeated' | 'random', Record<Side, Target>>> {
  const routeUrl = `${base}${route.path}`;
  const bareUrl = (baseline: Baseline) => `${base}${baselinePath(baseline)}`;
  const routeBody = (k: BoundKey) => JSON.stringify({ app_id: seeded.appId, license_key: k.licenseKey, hwid: k.hwid });
  const bareBody = (k: BoundKey) => JSON.stringify({ application_id: seeded.applicationId, license_key: k.licenseKey });
  const one = keys[Math.floor(keys.length / 2)]!;
  const accepts = (b: string) => b.includes(route.accepts);
  // The first request may change what the next ones get (a heartbeat takes its seat): checked, then
  // from the second on, the answer one key gets every time.
  await expectedBody(routeUrl, routeBody(one), route.check);
  const routeRepeated: Target = route.sameAnswerEachTime
    ? { name: route.name, url: routeUrl, body: routeBody(one), expectBody: await expectedBody(routeUrl, routeBody(one), route.check) }
    : // One key's answers differ in their times: checked like random keys' answers, with one body to pick from.
      { name: route.name, url: routeUrl, body: routeBody(one), expectBody: '', random: { bodies: [routeBody(one)], accepts } };
  const repeatedBaseline = async (baseline: Baseline): Promise<Target> => ({
    name: baseline,
    url: bareUrl(baseline),
    body: bareBody(one),
    expectBody: await expectedBody(bareUrl(baseline), bareBody(one), checkBaseline(baseline, one.licenseKey)),
  });
  const randomBaseline = (baseline: Baseline): Target => ({
    name: baseline,
    url: bareUrl(baseline),
    body: bareBody(one),
    expectBody: '',
    random: { bodies: keys.map(bareBody), accepts: (b) => b.includes('"license_key":"') },
  });
  return {
    repeated: { bare: await repeatedBaseline('bare'), signed: await repeatedBaseline('signed'), route: routeRepeated },
    random: {
      bare: randomBaseline('bare'),
      signed: randomBaseline('signed'),
      route: { name: route.name, url: routeUrl, body: routeBody(one), expectBody: '', random: { bodies: keys.map(routeBody), accepts } },
    },
  };
}

/** What the mode wrote: the usage flush's tables, and the route's own table as it writes it. */
function writeLines(route: ClientRoute, before: Record<string, TableWrites>, after: Record<string, TableWrites>, answers: number): string[] {
  const own = route.ownTable;
  const since = (table: string) => updatesSince(before[table]!, after[table]!);
  const inserted = (table: string) => after[table]!.inserts - before[table]!.inserts;
  const flushed = `licenses ${since('licenses')}, ${fmt(inserted('validation_logs'))} validation log lines`;
  if (own.written === 'with the usage flush') return [`usage flushes: ${own.label} ${since(own.name)}, ${flushed}`];
  const rows = inserted(own.name) + after[own.name]!.updates - before[own.name]!.updates;
  return [
    `${own.label} writes (${own.name}, before each answer, one statement per event-loop turn): ${fmt(inserted(own.name))} rows inserted, ${since(own.name)}; ${fmt(rows / answers, 3)} rows per ${route.name} answer`,
    `usage flushes: ${flushed}`,
  ];
}
