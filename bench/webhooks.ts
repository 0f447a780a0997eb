/**
 * `npm run bench:webhooks` — webhook delivery against its bare baselines, in alternating rounds in
 * one run (issue 11: ≥ 0.8x each, nothing delivered twice, every signature valid).
 *
 * Four ways of delivering the same signed bodies (Keycord's event body, HMAC-SHA256 signature) to
 * one local receiver (node:http on 127.0.0.1, answers 200), at the same concurrency (Keycord's
 * webhook concurrency):
 *   keycord bullmq — Keycord's worker role in a child process (relay polling OUTBOX_POLL_MS, BullMQ
 *                    workers), ALLOW_PRIVATE_WEBHOOK_URLS=true, one webhook on license.banned;
 *   bare bullmq    — a BullMQ queue and worker in a child process, each job a body to sign and
 *                    POST over an undici keep-alive pool (bench/support/bare-webhook-worker.ts);
 *   keycord local  — Keycord with JOB_PROVIDER=local, all in this process, as the zero-setup runs;
 *   bare local     — an in-process loop: claim rows of its own outbox table every OUTBOX_POLL_MS,
 *                    POST each signed body over undici keep-alive, record each delivery
 *                    (bench/support/bare-local-delivery.ts), in this process too.
 * Each round runs a burst of BENCH_EVENTS events through each way in that order. A Keycord burst
 * is BENCH_EVENTS license.banned outbox rows committed in one statement (as that many committed
 * bans leave them; the ban itself is bench:seller's subject): from that commit to the last
 * delivery received. A bare burst: BullMQ jobs added (addBulk) / rows committed, to the last
 * delivery. Printed per round: deliveries/s, latency p50/p99 from the burst's start, the ratio
 * Keycord/bare, and the host speed check (a fixed loop, timed before the round).
 * Then a paced run per Keycord provider: BENCH_PACED_EVENTS real bans (banLicense) at
 * BENCH_PACED_RATE/s, latency ban returned → delivery received, p50 against 2× OUTBOX_POLL_MS.
 * Checked for every burst and the paced runs: each event delivered exactly once (by delivery id,
 * after 2 s more listening), every signature valid; for Keycord the database agrees (delivered,
 * one attempt each). Numbers are printed, never asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_EVENTS           events per burst (default 2000)
 *   BENCH_ROUNDS           rounds (default 3), after a warm-up round that is not counted
 *   BENCH_WARMUP           0 skips the warm-up round
 *   BENCH_PACED_EVENTS     paced events per Keycord provider (default 100; 0 skips)
 *   BENCH_PACED_RATE       paced events per second (default 20)
 *   BENCH_POLL_MS          OUTBOX_POLL_MS (default Keycord's)
 *   BENCH_TIMEOUT_S        give up waiting for a burst's deliveries after this long (default 300)
 *   BENCH_DATABASE_URL, BENCH_REDIS_URL
 *   WORKER_CONCURRENCY     as Keycord's; the bare ways run at the same webhook concurrency
 * For finding causes (not for results):
 *   BENCH_WAYS             e.g. keycord-bullmq,bare-bullmq: only those ways
 *   BENCH_WORKER_NODE_OPTIONS  node flags of the worker children, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof
 *   BENCH_BEFORE_BURST, BENCH_AFTER_BURST  shell commands run around each burst (BENCH_WAY set
 *                          after), e.g. to reset and read Redis INFO commandstats or pg_stat_database
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execSync, type ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { loadConfig } from '../src/config.js';
import { webhookConcurrency } from '../src/jobs/definitions/deliver-webhook.js';
import type { SellerActor } from '../src/core/actor.js';
import { banLicense } from '../src/core/licenses/license-actions.js';
import { hostSpeedCheckMs } from './support/cpu.js';
import { forkUntilReady, stopChild } from './support/child-process.js';
import { startBareLocalDelivery, type BareLocalDelivery } from './support/bare-local-delivery.js';
import type { BareDeliveryJob, BareWorkerMessage } from './support/bare-webhook-worker.js';
import {
  BENCH_REDIS_URL,
  cleanupOnInterrupt,
  cpuTimes,
  cpuUse,
  envInt,
  flushRedisPrefix,
  fmt,
  machineLine,
  percentile,
  seedSeller,
  sleep,
  startBenchKeycord,
  type KeycordInstance,
  type SeededSeller,
} from './support/keycord-instance.js';

const EVENTS = envInt('BENCH_EVENTS', 2000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const WARMUP = process.env.BENCH_WARMUP !== '0';
const PACED_EVENTS = process.env.BENCH_PACED_EVENTS === '0' ? 0 : envInt('BENCH_PACED_EVENTS', 100);
const PACED_RATE = envInt('BENCH_PACED_RATE', 20);
const TIMEOUT_MS = envInt('BENCH_TIMEOUT_S', 300) * 1000;
const POLL_MS = envInt('BENCH_POLL_MS', loadConfig({ KEYCORD_SECRET: 'x'.repeat(32) }).jobs.outboxPollMs);
const TARGET = 0.8;
/** After the last expected delivery, keep listening this long so a duplicate would be seen. */
const DUPLICATE_GRACE_MS = 2000;
/** A signature's timestamp may be this far from its arrival (clock of this very machine). */
const SIGNATURE_TOLERANCE_S = 300;
const BARE_WORKER = fileURLToPath(new URL('./support/bare-webhook-worker.ts', import.meta.url));

interface Arrival {
  /** Which way sent it: each has a path of its own on the receiver. */
  path: string;
  deliveryId: string;
  signature: string;
  body: string;
  licenseId: number;
  at: number;
}

/** The webhook endpoint: answers 200 at once, keeps every request with its arrival time. */
async function startReceiver() {
  const arrivals: Arrival[] = [];
  let onArrival: (() => void) | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      arrivals.push({
        path: req.url ?? '',
        deliveryId: String(req.headers['x-keycord-delivery'] ?? ''),
        signature: String(req.headers['x-keycord-signature'] ?? ''),
        body,
        licenseId: Number((JSON.parse(body) as EventBody).data?.license?.id),
        at: Date.now(),
      });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      onArrival?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    urlFor: (path: string) => `http://127.0.0.1:${port}${path}`,
    arrivals,
    /** Arrivals at `path` for license ids in [from, from + count). */
    of: (path: string, from: number, count: number) => arrivals.filter((a) => a.path === path && a.licenseId >= from && a.licenseId < from + count),
    async waitFor(path: string, from: number, count: number, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      let seen = 0;
      let scanned = 0;
      const distinct = new Set<number>();
      while (seen < count) {
        for (; scanned < arrivals.length; scanned++) {
          const { licenseId: id, path: at } = arrivals[scanned]!;
          if (at === path && id >= from && id < from + count && !distinct.has(id)) distinct.add(id);
        }
        seen = distinct.size;
        if (seen >= count) break;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${seen} of ${count} deliveries arrived within ${timeoutMs / 1000} s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          onArrival = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type EventBody = { id: string; created_at: string; data: { license: { id: number } } };

function verifySignature(secret: string, a: Arrival): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(a.signature);
  if (!m) return false;
  if (Math.abs(a.at / 1000 - Number(m[1])) > SIGNATURE_TOLERANCE_S) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${a.body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

/** A Keycord with its seller, its webhook (and secret), and a real ban's payload to copy. */
interface KeycordSide {
  name: string;
  path: string;
  k: KeycordInstance;
  seller: SeededSeller;
  hook: { id: number; secret: string };
  payload: Record<string, unknown>;
  pacedLicenses: number[];
}

async function startKeycordSide(name: string, path: string, provider: 'bullmq' | 'local', rx: Receiver): Promise<KeycordSide> {
  const env = { ALLOW_PRIVATE_WEBHOOK_URLS: 'true', OUTBOX_POLL_MS: String(POLL_MS), ...(provider === 'local' ? { JOB_PROVIDER: 'local' } : {}) };
  const k = await startBenchKeycord(provider === 'local' ? 'hookslocal' : 'hooks', env, { workers: provider === 'local' ? 'in-process' : 'child' });
  open.add(() => k.close());
  const seller = await seedSeller(k.app);
  const { json: generated } = await seller.call<{ licenses: { id: number }[] }>('POST', '/api/licenses/generate', { plan_id: seller.planId, count: PACED_EVENTS + 1, format: 'random' });
  const [first, ...pacedLicenses] = generated.licenses.map((l) => l.id);
  const { json: hook } = await seller.call<{ id: number; secret: string }>('POST', `/api/applications/${seller.applicationId}/webhooks`, {
    url: rx.urlFor(path),
    events: ['license.banned'],
    active: true,
  });
  // Warm-up: one real ban through the whole path; its payload is the template of the burst's events.
  await seller.call('POST', `/api/licenses/${first}/ban`, { reason: 'bench' });
  await rx.waitFor(path, first!, 1, 30_000);
  const [row] = await k.deps.db.query<{ payload: Record<string, unknown> }>(`select payload from outbox where type = 'license.banned' order by id limit 1`);
  return { name, path, k, seller, hook, payload: row!.payload, pacedLicenses };
}

/** The payload of a ban of license `id`: the real one's, with the license id changed. */
const payloadFor = (template: Record<string, unknown>, id: number) => ({ ...template, license: { ...(template.license as object), id } });

interface BurstResult {
  perS: number;
  p50: number;
  p99: number;
  check: string;
  ok: boolean;
}

/** Waits for a burst's deliveries; throughput and latency from `startedAt`. */
async function finishBurst(rx: Receiver, path: string, from: number, startedAt: number): Promise<Omit<BurstResult, 'check' | 'ok'>> {
  await rx.waitFor(path, from, EVENTS, TIMEOUT_MS);
  const got = rx.of(path, from, EVENTS);
  const latencies = got.map((a) => a.at - startedAt).sort((x, y) => x - y);
  return { perS: (EVENTS / (Math.max(...got.map((a) => a.at)) - startedAt)) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Exactly once and signatures, for ids [from, from + count), once listening is over. */
function checkArrivals(rx: Receiver, path: string, from: number, count: number, secret: string) {
  const got = rx.of(path, from, count);
  const perDelivery = new Set(got.map((a) => a.deliveryId));
  const licenses = new Set(got.map((a) => a.licenseId));
  const bad = got.filter((a) => !verifySignature(secret, a)).length;
  const ok = got.length === count && perDelivery.size === count && licenses.size === count && bad === 0;
  return {
    ok,
    line: `${fmt(got.length)} requests, ${fmt(perDelivery.size)} delivery ids, ${fmt(count - licenses.size)} missing, ${fmt(got.length - perDelivery.size)} repeated, ${fmt(bad)} bad signatures`,
  };
}

async function keycordDatabaseCheck(side: KeycordSide, from: number, count: number) {
  const [db] = await side.k.deps.db.query<{ delivered: number; other: number; attempts: number }>(
    `select count(*) filter (where d.status = 'delivered')::int as delivered, count(*) filter (where d.status <> 'delivered')::int as other, coalesce(sum(d.attempts), 0)::int as attempts
       from webhook_deliveries d join outbox o on o.id = d.event_id
      where d.webhook_id = $1 and (o.payload->'license'->>'id')::bigint between $2 and $3`,
    [side.hook.id, from, from + count - 1],
  );
  const ok = db?.delivered === count && db.other === 0 && db.attempts === count;
  return { ok, line: `database ${fmt(db?.delivered ?? 0)} delivered, ${db?.other ?? '?'} not, ${fmt(db?.attempts ?? 0)} attempts` };
}

async function keycordBurst(side: KeycordSide, from: number) {
  const appId = side.seller.applicationId;
  const payloads = Array.from({ length: EVENTS }, (_, i) => JSON.stringify(payloadFor(side.payload, from + i)));
  await side.k.deps.db.query(`insert into outbox (application_id, kind, type, payload) select $1, 'event', 'license.banned', p::jsonb from unnest($2::text[]) as p`, [appId, payloads]);
  const startedAt = Date.now();
  const result = await finishBurst(rxRef!, side.path, from, startedAt);
  // Where the time went: the relay (or the local claim) and the dispatches, by the database's marks.
  const [marks] = await side.k.deps.db.query<{ relayed: Date; dispatched: Date }>(
    `select max(relayed_at) as relayed, max(dispatched_at) as dispatched from outbox where type = 'license.banned' and (payload->'license'->>'id')::bigint between $1 and $2`,
    [from, from + EVENTS - 1],
  );
  const since = (d: Date | undefined) => (d ? fmt(new Date(d).getTime() - startedAt) : '?');
  return { ...result, stages: `last relayed +${since(marks?.relayed)} ms, last dispatched +${since(marks?.dispatched)} ms` };
}

let rxRef: Receiver | undefined;
const open = new Set<() => Promise<void>>();

async function main() {
  cleanupOnInterrupt(async () => {
    for (const close of open) await close();
  });
  const config = loadConfig({ KEYCORD_SECRET: 'x'.repeat(32) });
  // Keycord's webhook concurrency (the dispatch jobs', the local provider's), and the bare ways' too.
  const concurrency = webhookConcurrency({ workerConcurrency: envInt('WORKER_CONCURRENCY', config.jobs.workerConcurrency) });
  console.log('Keycord webhook delivery vs bare baselines, alternating rounds');
  console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${machineLine()}; PostgreSQL and Redis at 127.0.0.1`);
  console.log(`  burst     ${fmt(EVENTS)} license.banned events per way per round, ${ROUNDS} rounds; concurrency ${concurrency} everywhere; OUTBOX_POLL_MS ${POLL_MS}`);
  console.log(`  receiver  node:http on 127.0.0.1 in this process, answers 200; Keycord local and bare local also run in this process`);

  const rx = await startReceiver();
  rxRef = rx;
  open.add(() => rx.close());
  const bullmqSide = await startKeycordSide('keycord bullmq', '/keycord-bullmq', 'bullmq', rx);
  const localSide = await startKeycordSide('keycord local', '/keycord-local', 'local', rx);

  const bareSecret = `whsec_${randomBytes(24).toString('hex')}`;
  const barePrefix = `kcbench_bare_${randomBytes(4).toString('hex')}`;
  const bareQueue = new Queue<BareDeliveryJob>('bare-webhooks', { connection: { url: BENCH_REDIS_URL }, prefix: barePrefix });
  let bareChild: ChildProcess | undefined;
  open.add(async () => {
    if (bareChild) await stopChild(bareChild);
    await bareQueue.close();
    await flushRedisPrefix(BENCH_REDIS_URL, barePrefix);
  });
  bareChild = (
    await forkUntilReady(
      BARE_WORKER,
      {
        execArgv: process.env.BENCH_WORKER_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [],
        env: {
          BARE_REDIS_URL: BENCH_REDIS_URL,
          BARE_QUEUE_PREFIX: barePrefix,
          BARE_QUEUE: 'bare-webhooks',
          BARE_RECEIVER_URL: rx.urlFor('/bare-bullmq'),
          BARE_SECRET: bareSecret,
          BARE_CONCURRENCY: String(concurrency),
        },
        label: 'bare BullMQ worker',
      },
      (m) => ((m as BareWorkerMessage).type === 'ready' ? true : undefined),
    )
  ).child;
  const bareLocal: BareLocalDelivery = await startBareLocalDelivery({
    databaseUrl: localSide.k.databaseUrl,
    receiverUrl: rx.urlFor('/bare-local'),
    secret: bareSecret,
    concurrency,
    pollMs: POLL_MS,
    poolSize: localSide.k.config.databasePoolSize,
  });
  open.add(() => bareLocal.close());
  const bareBody = (id: number) =>
    JSON.stringify({ id: `evt_${id}`, type: 'license.banned', created_at: new Date().toISOString(), application_id: localSide.seller.applicationId, data: payloadFor(localSide.payload, id) });

  // Warm-up of the bare ways (connections, JIT), not counted.
  await bareQueue.add('deliver', { delivery: 'bare-warm', body: bareBody(1) });
  await bareLocal.enqueue([bareBody(2)]);
  await rx.waitFor('/bare-bullmq', 1, 1, 30_000);
  await rx.waitFor('/bare-local', 2, 1, 30_000);

  type Way = 'keycord bullmq' | 'bare bullmq' | 'keycord local' | 'bare local';
  const allWays: Way[] = ['keycord bullmq', 'bare bullmq', 'keycord local', 'bare local'];
  // BENCH_WAYS=keycord-bullmq,bare-bullmq… runs some of them only (profiling, counting statements).
  const only = process.env.BENCH_WAYS?.split(',').map((w) => w.trim().replace(/-/g, ' '));
  const ways = only ? allWays.filter((w) => only.includes(w)) : allWays;
  const results = new Map<Way, BurstResult[]>(ways.map((w) => [w, []]));
  const ranges: { way: Way; from: number }[] = [];
  let nextFrom = 1_000_000;
  const fmtResult = (r: Omit<BurstResult, 'check' | 'ok'>) => `${fmt(r.perS).padStart(6)} deliveries/s  p50 ${fmt(r.p50).padStart(6)}  p99 ${fmt(r.p99).padStart(6)} ms`;

  console.log('');
  // Round 0 warms every way up (JIT, connections, pools) with a burst of its own: not counted, but
  // checked like the others. Without it, round 1 measured mostly how much code each way has to warm.
  for (let round = WARMUP ? 0 : 1; round <= ROUNDS; round++) {
    const hostMs = hostSpeedCheckMs();
    console.log(round === 0 ? `warm-up round, not counted  (host speed check ${fmt(hostMs)} ms)` : `round ${round}  (host speed check ${fmt(hostMs)} ms)`);
    const perS = new Map<Way, number>();
    for (const way of ways) {
      const from = nextFrom;
      nextFrom += 1_000_000;
      ranges.push({ way, from });
      let r: Omit<BurstResult, 'check' | 'ok'>;
      const child = way === 'keycord bullmq' ? bullmqSide.k.workerPid : way === 'bare bullmq' ? bareChild.pid : undefined;
      if (process.env.BENCH_BEFORE_BURST) execSync(process.env.BENCH_BEFORE_BURST, { stdio: 'inherit' });
      const cpuBefore = cpuTimes(child);
      const wallStart = Date.now();
      if (way === 'keycord bullmq') r = await keycordBurst(bullmqSide, from);
      else if (way === 'keycord local') r = await keycordBurst(localSide, from);
      else if (way === 'bare bullmq') {
        const startedAt = Date.now();
        for (let i = 0; i < EVENTS; i += 500) {
          const n = Math.min(500, EVENTS - i);
          await bareQueue.addBulk(Array.from({ length: n }, (_, j) => ({ name: 'deliver', data: { delivery: `bare-${from + i + j}`, body: bareBody(from + i + j) } })));
        }
        r = await finishBurst(rx, '/bare-bullmq', from, startedAt);
      } else {
        const bodies = Array.from({ length: EVENTS }, (_, i) => bareBody(from + i));
        await bareLocal.enqueue(bodies);
        r = await finishBurst(rx, '/bare-local', from, Date.now());
      }
      perS.set(way, r.perS);
      if (round > 0) results.get(way)!.push({ ...r, check: '', ok: true });
      console.log(`  ${way.padEnd(15)} ${fmtResult(r)}${'stages' in r ? `  (${String(r.stages)})` : ''}`);
      const use = cpuUse(cpuBefore, cpuTimes(child), Date.now() - wallStart);
      if (use) {
        const per = (seconds: number | null) => (seconds === null ? '-' : `${fmt((seconds * 1e6) / EVENTS)} µs`);
        console.log(
          `                  CPU per delivery: worker child ${per(use.worker)}, this process ${per(use.node)}, postgres ${per(use.postgres)}, redis ${per(use.redis)}; others on the machine ${fmt(use.other / (use.wallMs / 1000), 2)} cores`,
        );
      }
      if (process.env.BENCH_AFTER_BURST) execSync(process.env.BENCH_AFTER_BURST, { stdio: 'inherit', env: { ...process.env, BENCH_WAY: way } });
    }
    if (ways.length === allWays.length) {
      console.log(
        `  ratio           bullmq ${fmt(perS.get('keycord bullmq')! / perS.get('bare bullmq')!, 2)}x   local ${fmt(perS.get('keycord local')! / perS.get('bare local')!, 2)}x   (target ≥ ${TARGET}x)`,
      );
    }
  }

  // Paced: real bans at a steady rate below capacity, where the relay's polling shows.
  const paced: { name: string; p50: number; p99: number; from: number; side: KeycordSide }[] = [];
  if (PACED_EVENTS > 0) {
    console.log('');
    for (const side of [bullmqSide, localSide]) {
      const actor: SellerActor = { kind: 'developer', developerId: side.seller.developerId, name: 'bench', via: 'session', tokenId: 0 };
      const answeredAt = new Map<number, number>();
      const gap = 1000 / PACED_RATE;
      const startedAt = performance.now();
      for (const [i, id] of side.pacedLicenses.entries()) {
        const wait = startedAt + i * gap - performance.now();
        if (wait > 0) await sleep(wait);
        await banLicense(side.k.deps, actor, id, 'bench');
        answeredAt.set(id, Date.now());
      }
      const from = side.pacedLicenses[0]!;
      const count = side.pacedLicenses.length;
      // Paced licenses are consecutive ids, generated in one request.
      await rx.waitFor(side.path, from, count, TIMEOUT_MS);
      const latencies = rx
        .of(side.path, from, count)
        .map((a) => a.at - answeredAt.get(a.licenseId)!)
        .sort((x, y) => x - y);
      const p50 = percentile(latencies, 50);
      paced.push({ name: side.name, p50, p99: percentile(latencies, 99), from, side });
      console.log(
        `paced  ${side.name.padEnd(15)} ${fmt(count)} bans at ${PACED_RATE}/s: latency p50 ${fmt(p50)}  p99 ${fmt(percentile(latencies, 99))} ms  ` +
          `(2 × OUTBOX_POLL_MS = ${2 * POLL_MS} ms: ${p50 <= 2 * POLL_MS ? 'within' : 'OVER'})`,
      );
    }
  }

  // Exactly once and signatures, every burst and the paced runs, after listening a while longer.
  await sleep(DUPLICATE_GRACE_MS);
  console.log('');
  let allOk = true;
  for (const { way, from } of ranges) {
    const side = way === 'keycord bullmq' ? bullmqSide : way === 'keycord local' ? localSide : undefined;
    const path = side ? side.path : way === 'bare bullmq' ? '/bare-bullmq' : '/bare-local';
    const arrivals = checkArrivals(rx, path, from, EVENTS, side ? side.hook.secret : bareSecret);
    const db = side ? await keycordDatabaseCheck(side, from, EVENTS) : { ok: true, line: '' };
    allOk &&= arrivals.ok && db.ok;
    console.log(`checked ${way.padEnd(15)} from ${from}: ${arrivals.line}${db.line ? `; ${db.line}` : ''} — ${arrivals.ok && db.ok ? 'OK' : 'NO'}`);
  }
  for (const p of paced) {
    const arrivals = checkArrivals(rx, p.side.path, p.from, p.side.pacedLicenses.length, p.side.hook.secret);
    allOk &&= arrivals.ok;
    console.log(`checked paced ${p.name.padEnd(15)}: ${arrivals.line} — ${arrivals.ok ? 'OK' : 'NO'}`);
  }

  const median = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  const med = (w: Way) => median(results.get(w)!.map((r) => r.perS));
  const p99 = (w: Way) => median(results.get(w)!.map((r) => r.p99));
  console.log('');
  console.log(`summary (median of ${ROUNDS} rounds; latency from the burst's start)`);
  for (const w of ways) console.log(`  ${w.padEnd(15)} ${fmt(med(w)).padStart(6)} deliveries/s   p99 ${fmt(p99(w)).padStart(6)} ms`);
  if (ways.length < allWays.length) return void (await closeAll());
  const bullmqRatio = med('keycord bullmq') / med('bare bullmq');
  const localRatio = med('keycord local') / med('bare local');
  console.log(`  ratio bullmq    ${fmt(bullmqRatio, 2)}x  (${bullmqRatio >= TARGET ? 'meets' : 'BELOW'} ${TARGET}x)`);
  console.log(`  ratio local     ${fmt(localRatio, 2)}x  (${localRatio >= TARGET ? 'meets' : 'BELOW'} ${TARGET}x)`);
  for (const p of paced) console.log(`  paced p50 ${p.name.padEnd(15)} ${fmt(p.p50)} ms (≤ ${2 * POLL_MS} ms wanted)`);
  console.log(`  exactly once, signatures, database: ${allOk ? 'OK' : 'NOT OK'}`);
  if (!allOk) process.exitCode = 1;

  await closeAll();
}

async function closeAll() {
  for (const close of [...open].reverse()) await close().catch((err: Error) => console.error(err.message));
}

await main();
