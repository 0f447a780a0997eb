/**
 * `npm run bench:schedule` — what the `local` job provider's webhook retry schedule costs while a
 * receiver has been down long enough to leave BENCH_PENDING deliveries pending (each with one
 * failed attempt, spread over the last hour, its next attempt hours away).
 *
 * Two ways, in alternating rounds in one run, on one seeded database (created, migrated and
 * dropped here; Keycord assembled by startKeycord with no job side, so nothing else touches the
 * deliveries):
 *   keycord   — the schedule as the provider runs it: the MAX_SCHEDULED soonest due held in memory;
 *   hold-all  — the same class holding every pending delivery (what it did before it was bounded).
 * Printed per round and way: the heap the loaded schedule holds (after a full collection, before and
 * after), the load's time (it reads every pending delivery either way; the provider runs it beside
 * its passes), and a pass's look at the schedule for due attempts (`startDue`, mean of
 * BENCH_PASSES calls; none is due). Then the ratios keycord / hold-all. Numbers are printed, never
 * asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_PENDING       pending deliveries (default 300000)
 *   BENCH_ROUNDS        rounds (default 3)
 *   BENCH_PASSES        startDue calls timed per round and way (default 200)
 *   BENCH_DATABASE_URL  admin connection used to create/drop the bench database
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../src/config.js';
import { DeliverySchedule, MAX_SCHEDULED } from '../src/jobs/local/delivery-schedule.js';
import { startKeycord } from '../src/start-keycord.js';
import { createBenchDatabase } from './support/bench-database.js';
import { hostSpeedCheckMs } from './support/cpu.js';
import { envInt, fmt } from './support/keycord-instance.js';

const PENDING = envInt('BENCH_PENDING', 300_000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const PASSES = envInt('BENCH_PASSES', 200);
/** The retry base of the schedule: one failed attempt is then 3 h away (WEBHOOK_MAX_DELAY_MS). */
const RETRY_BASE_MS = 86_400_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WAYS = [
  { name: 'keycord', capacity: MAX_SCHEDULED },
  { name: 'hold-all', capacity: Number.MAX_SAFE_INTEGER },
] as const;
type Way = (typeof WAYS)[number]['name'];

interface Measure {
  heapMb: number;
  held: number;
  loadMs: number;
  passMs: number;
}

async function main() {
  const db = await createBenchDatabase('keycord_bench_schedule');
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    KEYCORD_SECRET: randomBytes(32).toString('hex'),
    DATABASE_URL: db.url,
    ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
  });
  const keycord = await startKeycord(config, { role: 'all', jobs: 'none' });
  try {
    const { deps } = keycord;
    const call = async (url: string, payload: object, token?: string) => {
      const res = await keycord.app!.inject({ method: 'POST', url, payload, headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (res.statusCode >= 300) throw new Error(`POST ${url} → ${res.statusCode}: ${res.body}`);
      return res.json();
    };
    const { token } = await call('/api/auth/register', { email: 'bench@example.test', username: 'bench', password: 'correct horse battery' });
    const application = await call('/api/applications', { name: 'Bench App' }, token);
    // Port 9 (discard) on loopback: nothing is sent in this bench, no attempt is due.
    const hook = await call(`/api/applications/${application.id}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['license.banned'] }, token);
    const [event] = await deps.db.query<{ id: string }>(
      `insert into outbox (application_id, kind, type, payload, relayed_at, dispatched_at) values ($1, 'event', 'license.banned', '{}', now(), now()) returning id`,
      [application.id],
    );
    const seedStarted = performance.now();
    await deps.db.query(
      `insert into webhook_deliveries (webhook_id, event_id, event_type, body, attempts)
       select $1, $2::bigint + g, 'license.banned', '{}', 1 from generate_series(1, $3::int) g`,
      [hook.id, Number(event!.id), PENDING],
    );
    await deps.db.query(
      `insert into webhook_attempts (delivery_id, status_code, duration_ms, created_at)
       select id, 500, 1, now() - make_interval(secs => random() * 3600) from webhook_deliveries where webhook_id = $1`,
      [hook.id],
    );
    await deps.db.query('vacuum analyze');
    const seedS = (performance.now() - seedStarted) / 1000;

    console.log('Keycord local webhook retry schedule (src/jobs/local/delivery-schedule.ts)');
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL at 127.0.0.1`);
    console.log(`  database  ${db.name}: ${fmt(PENDING)} pending deliveries, one failed attempt each (seeded in ${fmt(seedS, 1)} s), vacuumed`);
    console.log(`  ways      keycord: the ${fmt(MAX_SCHEDULED)} soonest due held; hold-all: every pending delivery held`);
    console.log(`  rounds    ${ROUNDS}, ways alternating (order reversed every other round); a pass: mean of ${PASSES} startDue calls`);
    console.log('');

    const measure = async (capacity: number): Promise<Measure> => {
      gc();
      const before = process.memoryUsage().heapUsed;
      const schedule = new DeliverySchedule(deps, { retryBaseMs: RETRY_BASE_MS, concurrency: 100, capacity });
      const loadStarted = performance.now();
      await schedule.load();
      const loadMs = performance.now() - loadStarted;
      gc();
      const heapMb = (process.memoryUsage().heapUsed - before) / 1e6;
      const passStarted = performance.now();
      for (let i = 0; i < PASSES; i++) schedule.startDue();
      const passMs = (performance.now() - passStarted) / PASSES;
      return { heapMb, held: schedule.scheduled, loadMs, passMs };
    };

    const results = new Map<Way, Measure[]>(WAYS.map((w) => [w.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      const hostCheckMs = hostSpeedCheckMs();
      const order = round % 2 === 1 ? WAYS : [...WAYS].reverse();
      for (const way of order) {
        const m = await measure(way.capacity);
        results.get(way.name)!.push(m);
        console.log(
          `  round ${round}  ${way.name.padEnd(8)}  held ${fmt(m.held).padStart(7)}  heap ${fmt(m.heapMb, 1).padStart(5)} MB  load ${fmt(m.loadMs).padStart(5)} ms  pass ${fmt(m.passMs * 1000, 1).padStart(6)} µs  (host check ${fmt(hostCheckMs)} ms)`,
        );
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const of = (way: Way, pick: (m: Measure) => number) => median(results.get(way)!.map(pick));
    console.log('');
    console.log('  medians       keycord      hold-all     keycord / hold-all');
    for (const [label, pick, digits, unit] of [
      ['heap held', (m: Measure) => m.heapMb, 1, 'MB'],
      ['load', (m: Measure) => m.loadMs, 0, 'ms'],
      ['pass', (m: Measure) => m.passMs * 1000, 1, 'µs'],
    ] as const) {
      const k = of('keycord', pick);
      const b = of('hold-all', pick);
      console.log(`  ${label.padEnd(12)}  ${`${fmt(k, digits)} ${unit}`.padEnd(11)}  ${`${fmt(b, digits)} ${unit}`.padEnd(11)}  ${fmt(k / b, 3)}x`);
    }
  } finally {
    await keycord.close();
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
