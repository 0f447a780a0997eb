/**
 * `npm run bench:validate-ab` — does a setting make validation (or a heartbeat) faster? Two validation servers on
 * one seeded database, differing only by the environment given, are loaded in turn: short
 * rounds, alternating which goes first, so a shared machine whose speed drifts over minutes
 * touches both alike. Prints each round, the median of the per-round ratios B/A, and each side's
 * CPU per request (the server's and Postgres's: only the loaded side's backends work in its round).
 *
 *   BENCH_A, BENCH_B    JSON objects of environment variables for server A and server B
 *                       (default: SIGNING_THREAD false vs true)
 *   BENCH_A_ROOT, BENCH_B_ROOT  another checkout of Keycord to run that side's server from (a
 *                       `git worktree` of the commit before a change), to measure a change of code
 *   BENCH_KEYS          `one` (default: one key in every request) or `random` (a random one of
 *                       BENCH_LICENSES keys, default 100,000, each bound to its own HWID)
 *   BENCH_ROUTE         `validate` (default) or `heartbeat` (floating seats on, 3 per license, each
 *                       key's machine holding its seat, as in bench:heartbeat)
 *   BENCH_ROUNDS        rounds (default 8); BENCH_ROUND_S seconds per server per round (default 5)
 *   BENCH_WARMUP_S      warm-up per server before the rounds (default 5)
 */
import { randomBytes } from 'node:crypto';
import { createBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import { cpuPerRequest, cpuSnapshot } from './support/cpu.js';
import { flushRedisPrefix } from './support/keycord-instance.js';
import { runLoad } from './support/load.js';
import { envInt, keycordEnv, seed, startServer, stopServer, turnSeatsOn, validateTarget } from './support/validate-setup.js';

const envObject = (name: string, fallback: Record<string, string>): Record<string, string> => {
  const raw = process.env[name];
  if (!raw) return fallback;
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${name} must be a JSON object of variables`);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
};

const SIDES = { A: envObject('BENCH_A', { SIGNING_THREAD: 'false' }), B: envObject('BENCH_B', { SIGNING_THREAD: 'true' }) };
const ROOTS = { A: process.env.BENCH_A_ROOT || undefined, B: process.env.BENCH_B_ROOT || undefined };
const KEYS = process.env.BENCH_KEYS ?? 'one';
if (KEYS !== 'one' && KEYS !== 'random') throw new Error(`BENCH_KEYS: one or random, got "${KEYS}"`);
const ROUTE = ((route: string) => {
  if (route !== 'validate' && route !== 'heartbeat') throw new Error(`BENCH_ROUTE: validate or heartbeat, got "${route}"`);
  return route;
})(process.env.BENCH_ROUTE ?? 'validate');
const SEATS = 3;
const LICENSES = envInt('BENCH_LICENSES', KEYS === 'random' ? 100_000 : 5000);
const ROUNDS = envInt('BENCH_ROUNDS', 8);
const ROUND_S = envInt('BENCH_ROUND_S', 5);
const WARMUP_S = envInt('BENCH_WARMUP_S', 5);
const CONNECTIONS = 50;

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main() {
  let db: BenchDatabase | undefined;
  let env: Record<string, string> | undefined;
  const children: Parameters<typeof stopServer>[0][] = [];
  try {
    db = await createBenchDatabase();
    env = keycordEnv(db.url, randomBytes(32).toString('hex'));
    const seeded = await seed(env, LICENSES, { bindEveryKey: KEYS === 'random' });
    if (ROUTE === 'heartbeat') await turnSeatsOn(db.url, seeded.applicationId, SEATS);
    const bodies = seeded.boundKeys.map((k) => JSON.stringify({ app_id: seeded.appId, license_key: k.licenseKey, hwid: k.hwid }));
    const first = seeded.boundKeys[0] ? { ...seeded, licenseKey: seeded.boundKeys[0].licenseKey, hwid: seeded.boundKeys[0].hwid } : seeded;
    const sides = [] as { label: 'A' | 'B'; pid: number; target: Awaited<ReturnType<typeof validateTarget>> & { random?: { bodies: string[]; accepts: (body: string) => boolean } } }[];
    for (const label of ['A', 'B'] as const) {
      const { child, port } = await startServer({ ...env, ...SIDES[label] }, ROOTS[label]);
      children.push(child);
      const target = await validateTarget(`http://127.0.0.1:${port}`, first, label, ROUTE);
      sides.push({ label, pid: child.pid!, target: KEYS === 'random' ? { ...target, random: { bodies, accepts: (body) => body.includes('"code":"VALID"') } } : target });
    }
    console.log(
      `Keycord ${ROUTE} A/B: ${ROUNDS} rounds of ${ROUND_S} s per server, ${CONNECTIONS} connections, ${KEYS === 'random' ? `a random one of ${fmt(bodies.length)} keys` : 'one key'} per request`,
    );
    for (const label of ['A', 'B'] as const) console.log(`  ${label} ${JSON.stringify(SIDES[label])}${ROOTS[label] ? ` from ${ROOTS[label]}` : ''}`);
    for (const side of sides) await runLoad(side.target, { connections: CONNECTIONS, durationS: WARMUP_S });

    type Round = { rps: number; p99: number; server: number; postgres: number };
    const results = { A: [] as Round[], B: [] as Round[] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      const line: string[] = [];
      for (const side of order) {
        const before = cpuSnapshot(side.pid, db.name);
        const r = await runLoad(side.target, { connections: CONNECTIONS, durationS: ROUND_S });
        const cpu = cpuPerRequest(before, cpuSnapshot(side.pid, db.name), r.requests, r.seconds);
        if (r.errors || r.non2xx || r.mismatches) throw new Error(`${side.label}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.mismatches} wrong bodies`);
        results[side.label].push({ rps: r.reqPerSec, p99: r.p99, server: cpu?.server ?? NaN, postgres: cpu?.postgres ?? NaN });
        // The sides share the database, but only the loaded side's backends work during its round
        // (the other's next usage flush aside), so Postgres's CPU in a round is that side's.
        line.push(`${side.label} ${fmt(r.reqPerSec).padStart(6)} req/s p99 ${fmt(r.p99, 2).padStart(6)} ms${cpu ? ` server ${fmt(cpu.server, 1)} pg ${fmt(cpu.postgres, 1)} µs/req` : ''}`);
      }
      console.log(`round ${round + 1}  ${line.join('   ')}`);
    }
    const ratios = results.A.map((a, i) => results.B[i]!.rps / a.rps);
    for (const label of ['A', 'B'] as const) {
      const of = (pick: (r: Round) => number) => median(results[label].map(pick));
      const [rps, p99, server, postgres] = [of((r) => r.rps), of((r) => r.p99), of((r) => r.server), of((r) => r.postgres)];
      console.log(`${label}: median ${fmt(rps)} req/s, p99 ${fmt(p99, 2)} ms, CPU per request: server ${fmt(server, 1)} µs, postgres ${fmt(postgres, 1)} µs`);
    }
    console.log(`B/A per round: ${ratios.map((r) => fmt(r, 3)).join(' ')}`);
    console.log(`B/A median: ${fmt(median(ratios), 3)}x req/s`);
  } finally {
    for (const child of children) await stopServer(child).catch(() => child.kill('SIGKILL'));
    if (db) await db.drop();
    // The servers' queues left their keys under the run's prefix.
    if (env) await flushRedisPrefix(env.REDIS_URL!, env.QUEUE_PREFIX!).catch((err: Error) => console.error(`could not clean Redis: ${err.message}`));
  }
}

await main();
