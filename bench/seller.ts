/**
 * `npm run bench:seller` — how fast are a seller's writes (ban, unban, extend, reset-hwid, notes,
 * delete) over HTTP with a seller token, compared with a bare Fastify route doing the same
 * transaction with prepared statements (UPDATE license + INSERT audit + INSERT outbox)?
 *
 * A fresh database is created, migrated and seeded through the real API (a seller, an
 * application, a plan, licenses). Keycord and the bare baseline run in one child process
 * (bench/support/seller-server.ts), each on its own port and its own licenses; autocannon drives
 * them from here with 50 connections in alternating rounds (Keycord, bare, Keycord, bare, …), so a
 * shared machine whose speed drifts shifts both sides alike. Numbers are printed, never asserted.
 *
 * Requests go round a pool of licenses (license i, then i+1, …), so no two requests in flight
 * touch one license; a license answered banned is unbanned on the next pass, and the other way.
 *
 *   BENCH_ROUNDS            ban/unban rounds per side (default 3)
 *   BENCH_DURATION_S        length of each ban/unban round (default 10)
 *   BENCH_SHORT_S           length of the one round per side of extend, reset-hwid, notes, delete (default 5)
 *   BENCH_WARMUP_S          warm-up per side before the first round (default 3)
 *   BENCH_LICENSES          licenses per side that the cycling writes go round (default 2000)
 *   BENCH_DELETE_LICENSES   licenses per side for the delete round (default 8000)
 *   BENCH_SERVER_NODE_OPTIONS  extra node flags for the server child (e.g. --cpu-prof)
 *   BENCH_DATABASE_URL      admin connection used to create/drop the bench database
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { startKeycord } from '../src/start-keycord.js';
import { createBenchDatabase, type BenchDatabase } from './support/bench-database.js';
import { forkUntilReady, stopChild } from './support/child-process.js';
import { cpuPerRequest, cpuSnapshot, hostSpeedCheckMs, type CpuPerRequest } from './support/cpu.js';
import { BENCH_REDIS_URL, flushRedisPrefix, seedSeller } from './support/keycord-instance.js';
import { combineRuns, runLoad, type LoadResult, type SequencedRequest, type Target } from './support/load.js';
import type { SellerServerMessage } from './support/seller-server.js';
import { BENCH_ROOT, envInt, keycordEnv } from './support/validate-setup.js';

const ROUNDS = envInt('BENCH_ROUNDS', 3);
const DURATION_S = envInt('BENCH_DURATION_S', 10);
const SHORT_S = envInt('BENCH_SHORT_S', 5);
const WARMUP_S = envInt('BENCH_WARMUP_S', 3);
const LICENSES = envInt('BENCH_LICENSES', 2000);
const DELETE_LICENSES = envInt('BENCH_DELETE_LICENSES', 8000);
const CONNECTIONS = 50;
const TARGET_RATIO = 0.8;
const TARGET_P99_FACTOR = 2;
const SERVER = fileURLToPath(new URL('./support/seller-server.ts', import.meta.url));

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, 2)} ms`;

type Action = 'ban' | 'unban' | 'extend' | 'reset-hwid' | 'notes' | 'delete';

/** Keycord's route for an action, and the bare route that does the same transaction. */
function keycordRequest(action: Action, id: number): SequencedRequest {
  switch (action) {
    case 'ban':
      return { method: 'POST', path: `/api/licenses/${id}/ban`, body: '{"reason":"bench"}' };
    case 'extend':
      return { method: 'POST', path: `/api/licenses/${id}/extend`, body: '{"days":1}' };
    case 'notes':
      return { method: 'PUT', path: `/api/licenses/${id}/notes`, body: '{"notes":"bench"}' };
    case 'delete':
      return { method: 'DELETE', path: `/api/licenses/${id}`, body: '{}' };
    default:
      return { method: 'POST', path: `/api/licenses/${id}/${action}`, body: '{}' };
  }
}

function bareRequest(action: Action, id: number): SequencedRequest {
  const { body } = keycordRequest(action, id);
  return { method: 'POST', path: `/bare/licenses/${id}/${action}`, body };
}

interface Sequence {
  next(): SequencedRequest;
  /** Checks an answer (and may learn from it). */
  accepts(body: string): boolean;
}

/** The license (id, status) an answer carries: Keycord's view, or its `license` part, or the bare row. */
function answeredLicense(body: string): { id: number; status: string } | null {
  try {
    const json = JSON.parse(body);
    const license = json.license ?? json;
    return typeof license.id === 'number' && typeof license.status === 'string' ? license : null;
  } catch {
    return null;
  }
}

/**
 * Round after round over `ids`, banning a license that is not banned and unbanning one that is.
 * The state flips when a request is built (autocannon sends what it builds at once, and the
 * server finishes a request whose answer a run's end cuts off) and is set again from each answer.
 * With far more licenses than connections, a license's previous request is long done by its next.
 */
function banUnban(ids: number[], request: Side['request']): Sequence {
  const banned = new Set<number>();
  let i = 0;
  return {
    next: () => {
      const id = ids[i++ % ids.length]!;
      const action = banned.has(id) ? 'unban' : 'ban';
      if (action === 'ban') banned.add(id);
      else banned.delete(id);
      return request(action, id);
    },
    accepts: (body) => {
      const license = answeredLicense(body);
      if (!license) return false;
      if (license.status === 'banned') banned.add(license.id);
      else banned.delete(license.id);
      return true;
    },
  };
}

/** The same repeatable write to each license in turn, round after round. */
function cycle(ids: number[], action: Action, request: Side['request']): Sequence {
  let i = 0;
  return { next: () => request(action, ids[i++ % ids.length]!), accepts: (body) => answeredLicense(body) !== null };
}

/** Each license once, in order: for deletes. Past the end it repeats the last (answered 404, counted non-2xx). */
function once(ids: number[], action: Action, request: Side['request']): Sequence {
  let i = 0;
  return { next: () => request(action, ids[Math.min(i++, ids.length - 1)]!), accepts: (body) => body.startsWith('{') };
}

interface Side {
  name: 'keycord' | 'bare';
  base: string;
  headers: Record<string, string>;
  request: (action: Action, id: number) => SequencedRequest;
  cycleIds: number[];
  deleteIds: number[];
}

const target = (side: Side, label: string, sequence: Sequence): Target => ({
  name: `${side.name} ${label}`,
  url: side.base,
  body: '{}',
  expectBody: '',
  sequence: { headers: side.headers, ...sequence },
});

interface Run {
  result: LoadResult;
  cpu: CpuPerRequest | null;
  hostCheckMs: number;
}

function line(label: string, run: Run): string {
  const r = run.result;
  const problems = `non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}, bad bodies ${r.mismatches}`;
  const cpu = run.cpu ? `   CPU/req server ${fmt(run.cpu.server)} µs, postgres ${fmt(run.cpu.postgres)} µs` : '';
  return `  ${label.padEnd(22)} ${fmt(r.reqPerSec).padStart(6)} req/s   p50 ${ms(r.p50).padStart(9)}   p99 ${ms(r.p99).padStart(9)}   host check ${fmt(run.hostCheckMs)} ms${cpu}   (${fmt(r.requests)} requests; ${problems})`;
}

function verdict(label: string, keycord: LoadResult, bare: LoadResult): string {
  const ratio = keycord.reqPerSec / bare.reqPerSec;
  const p99Factor = keycord.p99 / bare.p99;
  const met = ratio >= TARGET_RATIO && p99Factor <= TARGET_P99_FACTOR;
  return (
    `  ${label.padEnd(11)} keycord ${fmt(keycord.reqPerSec).padStart(6)} req/s p99 ${ms(keycord.p99).padStart(9)}   bare ${fmt(bare.reqPerSec).padStart(6)} req/s p99 ${ms(bare.p99).padStart(9)}` +
    `   ratio ${fmt(ratio, 3)}x (≥ ${TARGET_RATIO}x: ${ratio >= TARGET_RATIO ? 'yes' : 'NO'})   p99 ${fmt(p99Factor, 2)}x bare (≤ ${TARGET_P99_FACTOR}x: ${p99Factor <= TARGET_P99_FACTOR ? 'yes' : 'NO'})   ${met ? 'met' : 'NOT met'}`
  );
}

/** A seller, an application, a plan and the licenses of both sides, made through the real API. */
async function seed(env: Record<string, string>) {
  const keycord = await startKeycord(loadConfig({ ...process.env, ...env }), { role: 'api', jobs: 'none' });
  try {
    const seller = await seedSeller(keycord.app!);
    const generate = async (count: number) => {
      const ids: number[] = [];
      for (let made = 0; made < count; made += 1000) {
        const { json } = await seller.call('POST', '/api/licenses/generate', { plan_id: seller.planId, count: Math.min(1000, count - made), format: 'random' });
        ids.push(...json.licenses.map((l: { id: number }) => l.id));
      }
      return ids;
    };
    const [version] = await keycord.deps.db.query<{ server_version: string }>('show server_version');
    return {
      token: seller.token,
      keycord: { cycleIds: await generate(LICENSES), deleteIds: await generate(DELETE_LICENSES) },
      bare: { cycleIds: await generate(LICENSES), deleteIds: await generate(DELETE_LICENSES) },
      postgresVersion: version?.server_version ?? '?',
    };
  } finally {
    await keycord.close();
  }
}

async function main() {
  let db: BenchDatabase | undefined;
  let child: ChildProcess | undefined;
  const queuePrefix = `kcbench_seller_${randomBytes(4).toString('hex')}`;
  const cleanup = async () => {
    if (child) await stopChild(child).catch(() => child?.kill('SIGKILL'));
    if (db) await db.drop();
    await flushRedisPrefix(BENCH_REDIS_URL, queuePrefix);
  };
  process.once('SIGINT', () => {
    console.log('\ninterrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    db = await createBenchDatabase();
    const env = {
      ...keycordEnv(db.url, randomBytes(32).toString('hex')),
      // As `keycord start --role api` runs beside a worker: jobs through Redis, on this run's own prefix.
      REDIS_URL: BENCH_REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      // A bench bans far faster than a seller would; it measures throughput, not the seller limit.
      SELLER_RATE_LIMIT_PER_MINUTE: '100000000',
    };
    const seeded = await seed(env);
    const execArgv = process.env.BENCH_SERVER_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [];
    const started = await forkUntilReady(SERVER, { env, cwd: BENCH_ROOT, execArgv, label: 'bench server' }, (m) =>
      (m as SellerServerMessage).type === 'listening' ? (m as SellerServerMessage) : undefined,
    );
    child = started.child;
    const ports = started.value;

    const sides: Side[] = [
      {
        name: 'keycord',
        base: `http://127.0.0.1:${ports.keycordPort}`,
        headers: { authorization: `Bearer ${seeded.token}` },
        request: keycordRequest,
        ...seeded.keycord,
      },
      { name: 'bare', base: `http://127.0.0.1:${ports.barePort}`, headers: {}, request: bareRequest, ...seeded.bare },
    ];
    const banUnbans = new Map(sides.map((s) => [s, banUnban(s.cycleIds, s.request)]));

    console.log('Keycord seller-writes benchmark');
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(LICENSES)} cycling + ${fmt(DELETE_LICENSES)} deletable licenses per side; pool ${loadConfig({ ...process.env, ...env }).databasePoolSize} per side`);
    console.log(`  keycord   HTTP with a seller session token, as \`keycord start --role api\` runs (child process)`);
    console.log(`  bare      Fastify + postgres.js, BEGIN; UPDATE licenses; INSERT audit_logs; INSERT outbox (ban, reset-hwid, delete); COMMIT — prepared statements`);
    console.log(`  load      autocannon, ${CONNECTIONS} connections; ${ROUNDS} alternating rounds of ${DURATION_S} s of ban/unban, then one round of ${SHORT_S} s per side of each other write`);
    console.log('');

    const serverPid = child.pid!;
    const databaseName = db.name;
    const measure = async (t: Target, durationS: number): Promise<Run> => {
      const hostCheckMs = hostSpeedCheckMs();
      const before = cpuSnapshot(serverPid, databaseName);
      const result = await runLoad(t, { connections: CONNECTIONS, durationS, windowS: durationS });
      const after = cpuSnapshot(serverPid, databaseName);
      return { result, cpu: cpuPerRequest(before, after, result.requests, result.seconds), hostCheckMs };
    };

    // Warm-up (JIT, pool connections, prepared statements on every connection), not measured.
    for (const side of sides) await runLoad(target(side, 'warm-up', banUnbans.get(side)!), { connections: CONNECTIONS, durationS: WARMUP_S });

    console.log('ban/unban rounds (each request bans or unbans one license):');
    const runs = new Map<Side, LoadResult[]>(sides.map((s) => [s, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const side of sides) {
        const run = await measure(target(side, 'ban/unban', banUnbans.get(side)!), DURATION_S);
        runs.get(side)!.push(run.result);
        console.log(line(`round ${round} ${side.name}`, run));
      }
    }
    const [keycordAll, bareAll] = sides.map((s) => combineRuns(s.name, runs.get(s)!)) as [LoadResult, LoadResult];

    const verdicts = [verdict('ban/unban', keycordAll, bareAll)];
    console.log('');
    console.log('other writes (one round per side):');
    for (const action of ['extend', 'reset-hwid', 'notes', 'delete'] as const) {
      const results: LoadResult[] = [];
      for (const side of sides) {
        const sequence = action === 'delete' ? once(side.deleteIds, 'delete', side.request) : cycle(side.cycleIds, action, side.request);
        const run = await measure(target(side, action, sequence), SHORT_S);
        results.push(run.result);
        console.log(line(`${action} ${side.name}`, run));
      }
      verdicts.push(verdict(action, results[0]!, results[1]!));
    }

    console.log('');
    console.log(`ratios (keycord/bare req/s, target ≥ ${TARGET_RATIO}x; keycord p99 ≤ ${TARGET_P99_FACTOR}x bare's):`);
    for (const v of verdicts) console.log(v);
  } finally {
    await cleanup();
  }
}

await main();
