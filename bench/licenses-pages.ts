import { cpus } from 'node:os';
import postgres from 'postgres';
import { hostSpeedCheckMs } from './support/cpu.js';
import { envInt, runServerBench, seed, startServer } from './support/validate-setup.js';

const LICENSES = envInt('BENCH_LICENSES', 100_000);
const PER_PAGE = envInt('BENCH_PER_PAGE', 50);
const FAR_PAGE = envInt('BENCH_FAR_PAGE', 1000);
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const REQUESTS = envInt('BENCH_REQUESTS', 100);
const TARGET_RATIO = 2;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, 2)} ms`;

function percentile(values: number[], q: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

interface PageTarget {
  name: string;
  path: string;
}

async function main() {
  await runServerBench(async ({ db, env, made }) => {
    const seeded = await seed(env, LICENSES);
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    await admin.unsafe('vacuum analyze');
    await admin.end({ timeout: 5 });
    // One seller sends every request here: the per-seller limit (600/min by default) would answer 429.
    const server = await startServer({ ...env, SELLER_RATE_LIMIT_PER_MINUTE: '100000000' });
    const _child = (made.child = server.child);
    const base = `http://127.0.0.1:${server.port}`;

    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'bench', password: 'correct horse battery' }),
    });
    const { token } = (await login.json()) as { token: string };
    const headers = { authorization: `Bearer ${token}` };
    const list = `/api/applications/${seeded.applicationId}/licenses`;
    const call = async (path: string) => {
      const started = performance.now();
      const res = await fetch(base + path, { headers });
      const body = await res.text();
      const elapsed = performance.now() - started;
      if (res.status !== 200) throw new Error(`GET ${path} → ${res.status}: ${body.slice(0, 200)}`);
      return { elapsed, res, body };
    };

    const lastPage = Math.ceil(seeded.licenseCount / PER_PAGE);
    const before = await call(`${list}?page=${FAR_PAGE - 1}&per_page=${PER_PAGE}`);
    const cursor = before.res.headers.get('x-next-cursor');
    if (!cursor) throw new Error(`page ${FAR_PAGE - 1} gave no X-Next-Cursor (only ${fmt(seeded.licenseCount)} licenses?)`);
    const targets: PageTarget[] = [
      { name: 'first page', path: `${list}?per_page=${PER_PAGE}` },
      { name: `page ${fmt(FAR_PAGE)}`, path: `${list}?page=${FAR_PAGE}&per_page=${PER_PAGE}` },
      { name: `keyset ${fmt(FAR_PAGE)}`, path: `${list}?per_page=${PER_PAGE}&cursor=${cursor}` },
      { name: `last (${fmt(lastPage)})`, path: `${list}?page=${lastPage}&per_page=${PER_PAGE}` },
    ];
    // The same rows by number and by keyset, or the comparison means nothing.
    const [byNumber, byKeyset] = await Promise.all([call(targets[1]!.path), call(targets[2]!.path)]);
    if (byNumber.body !== byKeyset.body) throw new Error(`page ${FAR_PAGE} by number and by keyset differ`);
    const total = byNumber.res.headers.get('x-total-count');

    console.log('Keycord license list pages');
    console.log(`  machine   ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${seeded.postgresVersion} at 127.0.0.1`);
    console.log(`  database  ${db.name}: one application with ${fmt(seeded.licenseCount)} licenses (X-Total-Count ${total}), vacuumed`);
    console.log(`  requests  GET ${list}, per_page ${PER_PAGE}, one at a time over HTTP, seller token; server in a child process`);
    console.log(`  rounds    ${ROUNDS} × ${REQUESTS} requests per target, order rotating; first ${REQUESTS / 5} of each target's first round are warm-up`);
    console.log('');

    for (const t of targets) for (let i = 0; i < REQUESTS / 5; i++) await call(t.path);
    const latencies = new Map(targets.map((t) => [t.name, [] as number[]]));
    for (let round = 1; round <= ROUNDS; round++) {
      const hostCheckMs = hostSpeedCheckMs();
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]!);
      const p50s = new Map<string, number>();
      for (const t of order) {
        const times: number[] = [];
        for (let i = 0; i < REQUESTS; i++) times.push((await call(t.path)).elapsed);
        latencies.get(t.name)!.push(...times);
        p50s.set(t.name, percentile(times, 0.5));
      }
      const first = p50s.get(targets[0]!.name)!;
      const cells = targets.map((t) => `${t.name} ${ms(p50s.get(t.name)!)}${t === targets[0] ? '' : ` (${fmt(p50s.get(t.name)! / first, 2)}x)`}`);
      console.log(`round ${round}  p50: ${cells.join('   ')}   host check ${fmt(hostCheckMs)} ms`);
    }

    console.log('');
    const firstAll = latencies.get(targets[0]!.name)!;
    const firstP50 = percentile(firstAll, 0.5);
    const firstP99 = percentile(firstAll, 0.99);
    const verdicts: string[] = [];
    for (const t of targets) {
      const all = latencies.get(t.name)!;
      const p50 = percentile(all, 0.5);
      const p99 = percentile(all, 0.99);
      const ratio = p50 / firstP50;
      console.log(`${t.name.padEnd(14)} p50 ${ms(p50).padStart(9)}   p99 ${ms(p99).padStart(9)}   ratio to the first page ${fmt(ratio, 2)}x p50, ${fmt(p99 / firstP99, 2)}x p99`);
      if (t !== targets[0]) verdicts.push(`${t.name} ${fmt(ratio, 2)}x`);
    }
    const worst = Math.max(...targets.slice(1).map((t) => percentile(latencies.get(t.name)!, 0.5) / firstP50));
    console.log(`target (every page ≤ ${TARGET_RATIO}x the first page's p50): ${worst <= TARGET_RATIO ? 'met' : 'NOT met'} (${verdicts.join(', ')})`);
  });
}

await main();
