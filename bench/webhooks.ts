/**
 * `npm run bench:webhooks` — how fast, and how soon after the change, do webhook deliveries go
 * out? Events travel: outbox row (same transaction as the ban) → relay (polls every
 * OUTBOX_POLL_MS) → `events` queue (fan-out to deliveries) → `webhooks` queue → HTTP POST.
 *
 * Per poll interval (default: Keycord's default, then 25 ms): a fresh database and queue prefix;
 * the API side of Keycord in this process, its worker role (relay + BullMQ workers) in a child
 * process, as production splits them (ALLOW_PRIVATE_WEBHOOK_URLS=true); a local receiver
 * (node:http on 127.0.0.1:0) that answers 200 and notes when each X-Keycord-Delivery arrives.
 * One webhook subscribes to license.banned. Then:
 *   burst — BENCH_EVENTS licenses banned as fast as possible (the core's banLicense,
 *           BENCH_CONCURRENCY at a time; BENCH_VIA_API=1 sends POST /api/licenses/:id/ban through
 *           app.inject instead): deliveries per second from the first event to the last delivery,
 *           and latency p50/p99 — which, once events arrive faster than they are delivered, is
 *           mostly time spent queued behind earlier events;
 *   paced — BENCH_PACED_EVENTS more at BENCH_PACED_RATE per second, below capacity, where the
 *           latency is the pipeline's own (and the relay's polling shows).
 * An event's time is when its ban returned, just after the commit. Checked: each event delivered
 * exactly once (by delivery id, and in the database) and every signature verifies. Numbers are
 * printed, never asserted (DESIGN.md: benchmarks).
 *
 *   BENCH_EVENTS           burst events per run (default 2000)
 *   BENCH_CONCURRENCY      bans in flight during the burst (default 16)
 *   BENCH_VIA_API=1        ban through the HTTP API instead of the core function
 *   BENCH_PACED_EVENTS     paced events per run (default 200; 0 skips the phase)
 *   BENCH_PACED_RATE       paced events per second (default 20)
 *   BENCH_POLL_MS          comma-separated OUTBOX_POLL_MS values to run (default "<Keycord default>,25")
 *   BENCH_TIMEOUT_S        give up waiting for a phase's deliveries after this long (default 300)
 *   BENCH_DATABASE_URL     admin connection used to create/drop the bench databases
 *   BENCH_REDIS_URL        Redis (default redis://127.0.0.1:6379)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { cpus } from 'node:os';
import { loadConfig } from '../src/config.js';
import type { SellerActor } from '../src/core/actor.js';
import { banLicense } from '../src/core/licenses/license-actions.js';
import { cleanupOnInterrupt, cpuLine, cpuTimes, cpuUse, envInt, fmt, machineLine, percentile, seedSeller, sleep, startBenchKeycord, type KeycordInstance } from './support/keycord-instance.js';

const EVENTS = envInt('BENCH_EVENTS', 2000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16);
const VIA_API = process.env.BENCH_VIA_API === '1';
const PACED_EVENTS = process.env.BENCH_PACED_EVENTS === '0' ? 0 : envInt('BENCH_PACED_EVENTS', 200);
const PACED_RATE = envInt('BENCH_PACED_RATE', 20);
const TIMEOUT_MS = envInt('BENCH_TIMEOUT_S', 300) * 1000;
const DEFAULT_POLL_MS = loadConfig({ KEYCORD_SECRET: 'x'.repeat(32) }).jobs.outboxPollMs;
const POLL_VALUES = (process.env.BENCH_POLL_MS ?? `${DEFAULT_POLL_MS},25`).split(',').map((v) => {
  const n = Number(v.trim());
  if (!Number.isInteger(n) || n < 10) throw new Error(`BENCH_POLL_MS values must be whole milliseconds ≥ 10, got "${v}"`);
  return n;
});
/** After the last expected delivery, keep listening this long so a duplicate would be seen. */
const DUPLICATE_GRACE_MS = 2000;
/** A signature's timestamp may be this far from its arrival (clock of this very machine). */
const SIGNATURE_TOLERANCE_S = 300;

interface Arrival {
  deliveryId: string;
  event: string;
  signature: string;
  body: string;
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
      arrivals.push({
        deliveryId: String(req.headers['x-keycord-delivery'] ?? ''),
        event: String(req.headers['x-keycord-event'] ?? ''),
        signature: String(req.headers['x-keycord-signature'] ?? ''),
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      onArrival?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    /** Resolves once `count` requests matching `filter` have arrived, or rejects at the deadline. */
    async waitFor(filter: (a: Arrival) => boolean, count: number, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (arrivals.filter(filter).length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${arrivals.filter(filter).length} of ${count} deliveries arrived within ${timeoutMs / 1000} s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 1000));
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

function verifySignature(secret: string, a: Arrival): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(a.signature);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(a.at / 1000 - t) > SIGNATURE_TOLERANCE_S) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${a.body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

interface Latency {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** p50 measured from the outbox row's created_at (the transaction's start, database clock). */
  fromOutboxP50: number;
}

interface RunResult {
  pollMs: number;
  deliveriesPerS: number;
  burst: Latency;
  paced: Latency | null;
  verified: boolean;
}

type EventBody = { id: string; created_at: string; data: { license: { id: number } } };

/** Latency of each event's (first) delivery: arrival minus when its ban returned. */
function latencyOf(arrivals: Arrival[], answeredAt: Map<number, number>): Latency {
  const fromBan: number[] = [];
  const fromOutbox: number[] = [];
  for (const a of arrivals) {
    const body = JSON.parse(a.body) as EventBody;
    const at = answeredAt.get(body.data.license.id);
    if (at === undefined) continue;
    fromBan.push(a.at - at);
    fromOutbox.push(a.at - Date.parse(body.created_at));
  }
  fromBan.sort((x, y) => x - y);
  fromOutbox.sort((x, y) => x - y);
  return {
    min: fromBan[0] ?? NaN,
    p50: percentile(fromBan, 50),
    p90: percentile(fromBan, 90),
    p99: percentile(fromBan, 99),
    max: fromBan.at(-1) ?? NaN,
    fromOutboxP50: percentile(fromOutbox, 50),
  };
}

const latencyLine = (l: Latency) =>
  `min ${fmt(l.min)}  p50 ${fmt(l.p50)}  p90 ${fmt(l.p90)}  p99 ${fmt(l.p99)}  max ${fmt(l.max)} ms  (p50 from the outbox row's created_at: ${fmt(l.fromOutboxP50)} ms)`;

/** What Ctrl-C must clean up: the running instance (database, Redis keys, worker process). */
const open = new Set<KeycordInstance>();

async function runOnce(pollMs: number): Promise<RunResult> {
  const receiver = await startReceiver();
  let k: KeycordInstance | undefined;
  try {
    k = await startBenchKeycord('hooks', { ALLOW_PRIVATE_WEBHOOK_URLS: 'true', OUTBOX_POLL_MS: String(pollMs) }, { workers: 'child' });
    open.add(k);
    const instance = k;
    const jc = k.config.jobs;
    console.log(`OUTBOX_POLL_MS=${pollMs}  (database ${k.databaseName}; Redis prefix ${k.queuePrefix})`);
    console.log(
      `  keycord   relay + workers in a child process (events ×${jc.workerConcurrency}, webhooks ×${Math.max(10, jc.workerConcurrency * 4)}); ` +
        `DATABASE_POOL_SIZE ${k.config.databasePoolSize} per process`,
    );

    const seller = await seedSeller(k.app);
    const total = EVENTS + PACED_EVENTS;
    const licenseIds: number[] = [];
    for (let made = 0; made < total; made += 1000) {
      const { json } = await seller.call<{ licenses: { id: number }[] }>('POST', '/api/licenses/generate', { plan_id: seller.planId, count: Math.min(1000, total - made), format: 'random' });
      licenseIds.push(...json.licenses.map((l) => l.id));
    }
    const burstIds = licenseIds.slice(0, EVENTS);
    const pacedIds = licenseIds.slice(EVENTS);
    const { json: hook } = await seller.call<{ id: number; secret: string }>('POST', `/api/applications/${seller.applicationId}/webhooks`, {
      url: receiver.url,
      events: ['license.banned'],
      active: true,
    });

    // Warm-up: one webhook.test through the whole path (connections, JIT), not counted.
    const warmStart = Date.now();
    await seller.call('POST', `/api/webhooks/${hook.id}/test`);
    await receiver.waitFor((a) => a.event === 'webhook.test', 1, 30_000);
    console.log(`  warm-up   webhook.test delivered ${fmt(Date.now() - warmStart)} ms after the request (not counted)`);

    // An event's time is when its ban returned: its transaction, outbox row included, has committed.
    const actor: SellerActor = { kind: 'developer', developerId: seller.developerId, name: 'bench', via: 'session', tokenId: 0 };
    const ban = VIA_API
      ? (id: number) => seller.call('POST', `/api/licenses/${id}/ban`, { reason: 'bench' })
      : (id: number) => banLicense(instance.deps, actor, id, 'bench');
    const answeredAt = new Map<number, number>();
    const deliveriesOf = (ids: number[]) => {
      const wanted = new Set(ids);
      return (a: Arrival) => a.event === 'license.banned' && wanted.has((JSON.parse(a.body) as EventBody).data.license.id);
    };

    // 1. Burst: every ban as fast as possible, CONCURRENCY at a time.
    let next = 0;
    const cpuBefore = cpuTimes(k.workerPid);
    const produceStart = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < burstIds.length) {
          const id = burstIds[next++]!;
          await ban(id);
          answeredAt.set(id, Date.now());
        }
      }),
    );
    const produceMs = Date.now() - produceStart;
    console.log(
      `  burst     ${fmt(EVENTS)} bans in ${fmt(produceMs)} ms (${fmt(EVENTS / (produceMs / 1000))}/s ${VIA_API ? 'through the API' : 'through the core'}, ${CONCURRENCY} at a time; deliveries start meanwhile)`,
    );
    const inBurst = deliveriesOf(burstIds);
    await receiver.waitFor(inBurst, EVENTS, TIMEOUT_MS);
    const cpuAfter = cpuTimes(k.workerPid);
    const burstArrivals = receiver.arrivals.filter(inBurst);
    const firstEvent = Math.min(...burstIds.map((id) => answeredAt.get(id)!));
    const lastDelivery = Math.max(...burstArrivals.map((a) => a.at));
    const spanMs = lastDelivery - firstEvent;
    const deliveriesPerS = EVENTS / (spanMs / 1000);
    const burst = latencyOf(burstArrivals, answeredAt);
    console.log(`            throughput ${fmt(deliveriesPerS)} deliveries/s (${fmt(EVENTS)} in ${fmt(spanMs)} ms, first ban returned → last delivery received)`);
    console.log(`            latency ${latencyLine(burst)}`);
    const use = cpuUse(cpuBefore, cpuAfter, Date.now() - produceStart);
    console.log(`            CPU: ${cpuLine(use, cpus().length)}`);
    if (use?.worker != null) {
      const perEvent = (n: number) => `${fmt((n * 1000) / EVENTS, 2)} ms`;
      console.log(`                 per event: worker process ${perEvent(use.worker)} (relay, fan-out, delivery), this process ${perEvent(use.node)} (ban, receiver), postgres ${perEvent(use.postgres)}`);
    }

    // 2. Paced: a steady rate well below capacity, where the relay's polling shows in the latency.
    let paced: Latency | null = null;
    if (PACED_EVENTS > 0) {
      const gap = 1000 / PACED_RATE;
      const pacedStart = performance.now();
      for (const [i, id] of pacedIds.entries()) {
        const wait = pacedStart + i * gap - performance.now();
        if (wait > 0) await sleep(wait);
        await ban(id);
        answeredAt.set(id, Date.now());
      }
      const inPaced = deliveriesOf(pacedIds);
      await receiver.waitFor(inPaced, PACED_EVENTS, TIMEOUT_MS);
      paced = latencyOf(receiver.arrivals.filter(inPaced), answeredAt);
      console.log(`  paced     ${fmt(PACED_EVENTS)} bans at ${PACED_RATE}/s, one at a time: latency ${latencyLine(paced)}`);
    }

    // Exactly once, over both phases: one request per delivery id, one delivery per event, every
    // banned license covered, and the database agrees (delivered, one attempt each).
    await sleep(DUPLICATE_GRACE_MS);
    const arrivals = receiver.arrivals.filter((a) => a.event === 'license.banned');
    const perDelivery = new Map<string, number>();
    for (const a of arrivals) perDelivery.set(a.deliveryId, (perDelivery.get(a.deliveryId) ?? 0) + 1);
    const repeated = [...perDelivery.values()].filter((n) => n > 1).length;
    const bodies = arrivals.map((a) => JSON.parse(a.body) as EventBody);
    const eventIds = new Set(bodies.map((b) => b.id));
    const licensesSeen = new Set(bodies.map((b) => b.data.license.id));
    const missing = licenseIds.filter((id) => !licensesSeen.has(id)).length;
    const [db] = await k.deps.db.query<{ delivered: number; other: number; attempts: number }>(
      `select count(*) filter (where status = 'delivered')::int as delivered, count(*) filter (where status <> 'delivered')::int as other,
              coalesce(sum(attempts), 0)::int as attempts
         from webhook_deliveries where webhook_id = $1 and event_type = 'license.banned'`,
      [hook.id],
    );
    const badSignatures = arrivals.filter((a) => !verifySignature(hook.secret, a)).length;
    const exactlyOnce = arrivals.length === total && perDelivery.size === total && repeated === 0 && eventIds.size === total && missing === 0;
    const dbOk = db?.delivered === total && db.other === 0 && db.attempts === total;
    console.log(
      `  checked   ${fmt(arrivals.length)} requests for ${fmt(total)} events: ${fmt(perDelivery.size)} distinct delivery ids, ${fmt(eventIds.size)} distinct events, ` +
        `${repeated} delivered twice, ${missing} licenses without a delivery (after ${DUPLICATE_GRACE_MS / 1000} s more listening) — exactly once: ${exactlyOnce ? 'OK' : 'NO'}`,
    );
    console.log(`            database: ${fmt(db?.delivered ?? 0)} delivered, ${db?.other ?? '?'} not, ${fmt(db?.attempts ?? 0)} attempts — ${dbOk ? 'OK' : 'MISMATCH'}`);
    console.log(
      `            signatures (t=…,v1=HMAC-SHA256(secret, t.body), t within ${SIGNATURE_TOLERANCE_S} s): ${fmt(arrivals.length - badSignatures)}/${fmt(arrivals.length)} verify — ${badSignatures === 0 ? 'OK' : 'BAD'}`,
    );
    console.log('');
    return { pollMs, deliveriesPerS, burst, paced, verified: exactlyOnce && dbOk && badSignatures === 0 };
  } finally {
    if (k) open.delete(k);
    await k?.close();
    await receiver.close();
  }
}

async function main() {
  cleanupOnInterrupt(async () => {
    for (const k of open) await k.close();
  });
  console.log('Keycord webhook delivery benchmark');
  console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${machineLine()}; PostgreSQL and Redis at 127.0.0.1`);
  console.log(`  run       burst: ${fmt(EVENTS)} license.banned events as fast as possible (${VIA_API ? 'POST /api/licenses/:id/ban via app.inject' : 'banLicense() of the core'}, ${CONCURRENCY} in flight);`);
  console.log(`            paced: ${fmt(PACED_EVENTS)} more at ${PACED_RATE}/s; all to one webhook on a local receiver (node:http, 127.0.0.1, answers 200)`);
  console.log(`            OUTBOX_POLL_MS ${POLL_VALUES.join(' then ')} (Keycord's default is ${DEFAULT_POLL_MS}); fresh database and Redis prefix for each`);
  console.log('');
  const results: RunResult[] = [];
  for (const pollMs of POLL_VALUES) results.push(await runOnce(pollMs));

  console.log('summary (latency = ban returned → delivery received, ms):');
  console.log('  OUTBOX_POLL_MS   burst deliveries/s   burst p50   burst p99   paced p50   paced p99   verified');
  for (const r of results) {
    console.log(
      `  ${String(r.pollMs).padStart(14)}   ${fmt(r.deliveriesPerS).padStart(18)}   ${fmt(r.burst.p50).padStart(9)}   ${fmt(r.burst.p99).padStart(9)}   ` +
        `${(r.paced ? fmt(r.paced.p50) : '-').padStart(9)}   ${(r.paced ? fmt(r.paced.p99) : '-').padStart(9)}   ${r.verified ? 'yes' : 'NO'}`,
    );
  }
  if (results.some((r) => !r.verified)) process.exitCode = 1;
}

await main();
