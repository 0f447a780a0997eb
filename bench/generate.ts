/**
 * `npm run bench:generate` — how close does bulk generation, end to end, come to the fastest way
 * Postgres can take the same rows (a raw COPY)?
 *
 * A fresh database is created and migrated, with a queue prefix of its own; developer, application
 * and plan are made through the real API. Keycord's workers (outbox relay + BullMQ) run in this
 * same process. Measured end to end: from `POST /api/licenses/generate` of BENCH_COUNT keys to
 * `GET /api/jobs/:id` (polled every 50 ms) saying `completed`. Then, for the same application and
 * plan and under the same unique index, BENCH_COUNT rows of 32-hex keys are written with one
 * `COPY licenses … FROM STDIN`. Numbers are printed, never asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_COUNT            keys per run (default 100000, the bulk limit)
 *   BENCH_TIMEOUT_S        give up on the job after this long (default 600)
 *   GENERATE_BATCH_SIZE    Keycord's keys per transaction (default: src/config.ts)
 *   BENCH_DATABASE_URL     admin connection used to create/drop the bench database
 *   BENCH_REDIS_URL        Redis (default redis://127.0.0.1:6379)
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { DEFAULT_MAX_BULK_GENERATE } from '../src/runtime.js';
import {
  cleanupOnInterrupt,
  cpuLine,
  cpuTimes,
  cpuUse,
  type CpuUse,
  envInt,
  fmt,
  machineLine,
  seedSeller,
  sleep,
  startBenchKeycord,
  type KeycordInstance,
  type SeededSeller,
} from './support/keycord-instance.js';

const COUNT = envInt('BENCH_COUNT', 100_000);
const TIMEOUT_MS = envInt('BENCH_TIMEOUT_S', 600) * 1000;
const POLL_MS = 50;
const TARGET_RATIO = 2;
const WARMUP_COUNT = 1001; // the smallest bulk job: warms the worker's code path and connections

interface JobView {
  id: number;
  status: 'queued' | 'running' | 'completed' | 'failed';
  count: number;
  generated: number;
  progress: number;
  error?: string;
  created_at: string;
  completed_at: string | null;
}

interface EndToEnd {
  jobId: number;
  acceptedMs: number;
  firstProgressMs: number | null;
  totalMs: number;
  polls: number;
  /** The job row's completed_at − created_at: server-side, free of the polling's granularity. */
  rowMs: number | null;
  cpu: CpuUse | null;
}

/** POST the job, then poll it every 50 ms until it completes; times are from just before the POST. */
async function generateEndToEnd(seller: SeededSeller, count: number, report: boolean): Promise<EndToEnd> {
  const cpuBefore = cpuTimes();
  const started = performance.now();
  const since = () => performance.now() - started;
  const accepted = await seller.call<{ job: JobView }>('POST', '/api/licenses/generate', { plan_id: seller.planId, count, format: 'random' });
  const acceptedMs = since();
  if (accepted.status !== 202) throw new Error(`expected 202 for count ${count}, got ${accepted.status}`);
  const jobId = accepted.json.job.id;
  if (report) console.log(`  ${fmt(acceptedMs, 1).padStart(8)} ms  202 job ${jobId} accepted`);

  let firstProgressMs: number | null = null;
  let lastGenerated = -1;
  let polls = 0;
  for (;;) {
    if (since() > TIMEOUT_MS) throw new Error(`job ${jobId} not completed after ${TIMEOUT_MS / 1000} s (last generated ${lastGenerated})`);
    const { json: job } = await seller.call<JobView>('GET', `/api/jobs/${jobId}`);
    polls++;
    const at = since();
    if (job.status === 'failed') throw new Error(`job ${jobId} failed: ${job.error}`);
    if (job.generated !== lastGenerated) {
      if (job.generated > 0 && firstProgressMs === null) firstProgressMs = at;
      lastGenerated = job.generated;
      if (report) console.log(`  ${fmt(at, 1).padStart(8)} ms  ${job.status.padEnd(9)} ${fmt(job.generated).padStart(7)} / ${fmt(job.count)} (${job.progress}%)`);
    }
    if (job.status === 'completed') {
      const rowMs = job.completed_at ? Date.parse(job.completed_at) - Date.parse(job.created_at) : null;
      return { jobId, acceptedMs, firstProgressMs, totalMs: at, polls, rowMs, cpu: cpuUse(cpuBefore, cpuTimes(), at) };
    }
    await sleep(POLL_MS);
  }
}

/** COPY `count` rows shaped like the job's (same application, plan, duration; fresh 32-hex keys). */
async function copyRows(k: KeycordInstance, seller: SeededSeller, count: number) {
  const sql = postgres(k.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`select 1`; // connect outside the timing, as the job's pool already is
    const CHUNK = 1000;
    function* chunks() {
      for (let made = 0; made < count; made += CHUNK) {
        const n = Math.min(CHUNK, count - made);
        const hex = randomBytes(16 * n)
          .toString('hex')
          .toUpperCase();
        let text = '';
        for (let i = 0; i < n; i++) text += `${seller.applicationId}\t${seller.planId}\t${hex.slice(i * 32, i * 32 + 32)}\t${seller.durationDays}\t\\N\t\\N\t\\N\n`;
        yield text;
      }
    }
    const cpuBefore = cpuTimes();
    const started = performance.now();
    const writable = await sql`copy licenses (application_id, plan_id, license_key, duration_days, notes, discord_user_id, job_id) from stdin`.writable();
    await pipeline(Readable.from(chunks()), writable);
    const ms = performance.now() - started;
    return { ms, cpu: cpuUse(cpuBefore, cpuTimes(), ms) };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main() {
  if (COUNT > DEFAULT_MAX_BULK_GENERATE || COUNT <= 1000) {
    throw new Error(`BENCH_COUNT must be 1001–${DEFAULT_MAX_BULK_GENERATE} (a bulk job), got ${COUNT}`);
  }
  const k = await startBenchKeycord('gen');
  cleanupOnInterrupt(k.close);
  try {
    const batch = k.config.jobs.generateBatchSize;
    const [pg] = await k.deps.db.query<{ server_version: string }>('show server_version');
    console.log('Keycord bulk generation benchmark');
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${machineLine()}, PostgreSQL ${pg?.server_version} at 127.0.0.1`);
    console.log(`  database  ${k.databaseName} (fresh, migrated); Redis prefix ${k.queuePrefix}`);
    console.log(`  keycord   API via app.inject, outbox relay and BullMQ workers in this same process;`);
    console.log(`            GENERATE_BATCH_SIZE ${fmt(batch)}, OUTBOX_POLL_MS ${k.config.jobs.outboxPollMs}, DATABASE_POOL_SIZE ${k.config.databasePoolSize}`);
    console.log(`  run       ${fmt(COUNT)} random keys (32 hex) in one job, polled every ${POLL_MS} ms; then COPY of ${fmt(COUNT)} rows`);
    console.log('');

    const seller = await seedSeller(k.app);
    const warm = await generateEndToEnd(seller, WARMUP_COUNT, false);
    console.log(`warm-up: a ${fmt(WARMUP_COUNT)}-key job completed in ${fmt(warm.totalMs, 0)} ms (not counted)`);
    console.log('');

    console.log(`end to end, ${fmt(COUNT)} keys:`);
    const e2e = await generateEndToEnd(seller, COUNT, true);
    const [check] = await k.deps.db.query<{ rows: number; distinct_keys: number }>('select count(*)::int as rows, count(distinct license_key)::int as distinct_keys from licenses where job_id = $1', [
      e2e.jobId,
    ]);
    const verified = check?.rows === COUNT && check.distinct_keys === COUNT;
    console.log(`  verified: ${fmt(check?.distinct_keys ?? 0)} distinct keys in ${fmt(check?.rows ?? 0)} rows for job ${e2e.jobId} — ${verified ? 'OK' : 'MISMATCH'}`);
    if (!verified) process.exitCode = 1;

    const [before] = await k.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [seller.applicationId]);
    console.log('');
    console.log(`raw COPY, ${fmt(COUNT)} rows into licenses (same application and plan; ${fmt(before?.n ?? 0)} keys already in its unique index):`);
    const copy = await copyRows(k, seller, COUNT);
    const [after] = await k.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [seller.applicationId]);
    const copied = (after?.n ?? 0) - (before?.n ?? 0);
    console.log(`  ${fmt(copy.ms, 1)} ms; ${fmt(copied)} rows added — ${copied === COUNT ? 'OK' : 'MISMATCH'}`);
    if (copied !== COUNT) process.exitCode = 1;

    const ratio = e2e.totalMs / copy.ms;
    const batches = Math.ceil(COUNT / batch);
    const queueMs = e2e.firstProgressMs ?? e2e.totalMs;
    console.log('');
    console.log('results:');
    console.log(
      `  end to end   ${fmt(e2e.totalMs).padStart(7)} ms   ${fmt(COUNT / (e2e.totalMs / 1000)).padStart(8)} keys/s   (202 after ${fmt(e2e.acceptedMs, 1)} ms; first batch seen after ${fmt(queueMs)} ms; ${batches} batches of ≤ ${fmt(batch)}; ${e2e.polls} polls)`,
    );
    if (e2e.rowMs !== null) console.log(`               job row: created_at → completed_at ${fmt(e2e.rowMs)} ms (server side, without the 50 ms polling)`);
    if (e2e.firstProgressMs !== null && batches > 1) {
      const perBatch = (e2e.totalMs - e2e.firstProgressMs) / (batches - 1);
      console.log(
        `               of which: ${fmt(queueMs)} ms to the first committed batch (outbox relay poll ≤ ${k.config.jobs.outboxPollMs} ms, queue, batch 1), then ~${fmt(perBatch)} ms per batch`,
      );
    }
    console.log(`  raw COPY     ${fmt(copy.ms).padStart(7)} ms   ${fmt(COUNT / (copy.ms / 1000)).padStart(8)} keys/s   (key making included)`);
    console.log(`  CPU, end to end: ${cpuLine(e2e.cpu, cpus().length)}`);
    console.log(`  CPU, COPY:       ${cpuLine(copy.cpu, cpus().length)}`);
    console.log('');
    console.log(`ratio end-to-end/COPY: ${fmt(ratio, 2)}x  (target ≤ ${TARGET_RATIO}x: ${ratio <= TARGET_RATIO ? 'met' : 'NOT met'})`);
    if (e2e.cpu && copy.cpu) {
      // Wall time on a shared machine moves with other people's load; Postgres's own CPU much less.
      console.log(`PostgreSQL CPU end-to-end/COPY: ${fmt(e2e.cpu.postgres / copy.cpu.postgres, 2)}x (${fmt(e2e.cpu.postgres, 2)} s / ${fmt(copy.cpu.postgres, 2)} s)`);
      const busy = e2e.cpu.other / (e2e.cpu.wallMs / 1000);
      if (busy > 0.25) console.log(`note: other processes used ${fmt(busy, 2)} cores during the end-to-end run; its wall time is inflated by that`);
    }
  } finally {
    await k.close();
  }
}

await main();
