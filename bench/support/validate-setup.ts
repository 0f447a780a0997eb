import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { startKeycord } from '../../src/start-keycord.js';
import { forkUntilReady, stopChild } from './child-process.js';
import { createBenchDatabase, type BenchDatabase } from './bench-database.js';
import { BENCH_REDIS_URL, flushRedisPrefix } from './keycord-instance.js';
import { activateEveryKey, seedThroughApi, type BoundKey, type Seeded } from './seed.js';
import type { ParentMessage, ServerMessage } from '../validate-server.js';

/** What the validation benchmarks share: the environment, the seed and the server child process. */

export const BENCH_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = fileURLToPath(new URL('../validate-server.ts', import.meta.url));

/** A whole number from the environment; 0 is allowed only where the default is 0 (an optional extra, e.g. BENCH_BLACKLIST). */
export const envInt = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  const least = fallback === 0 ? 0 : 1;
  if (!Number.isInteger(n) || n < least) throw new Error(`${name} must be a whole number of at least ${least}, got "${raw}"`);
  return n;
};

/**
 * The environment both the seeding app (here) and the server (child) run Keycord with. Redis
 * too, as `keycord start --role api` needs it to run apart from the workers; the queue prefix is
 * this run's own (`flushRedisPrefix` it afterwards).
 */
export function keycordEnv(databaseUrl: string, secret: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL: BENCH_REDIS_URL,
    QUEUE_PREFIX: `kcbench_validate_${secret.slice(0, 8)}`,
    KEYCORD_SECRET: secret,
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: join(tmpdir(), 'keycord-bench-data'),
  };
}

/**
 * Migrates the bench database and seeds `licenses` licenses through the real API; with
 * `bindEveryKey`, every key is then active on a HWID of its own (`boundKeys`), for random-key runs.
 */
export async function seed(
  env: Record<string, string>,
  licenses: number,
  opts: { bindEveryKey?: boolean } = {},
): Promise<Seeded & { postgresVersion: string; poolSize: number; boundKeys: BoundKey[] }> {
  const config = loadConfig({ ...process.env, ...env });
  // Seeding runs no jobs: the generation answers synchronously (≤ 1,000 keys a call).
  const keycord = await startKeycord(config, { role: 'api', jobs: 'none' });
  try {
    const seeded = await seedThroughApi(keycord.app!, licenses);
    const boundKeys = opts.bindEveryKey ? await activateEveryKey(keycord.deps.db, seeded.applicationId) : [];
    // The state a database is in between bulk changes: analysed (activateEveryKey does it for its
    // own), and the seeding's dirty pages written by a checkpoint now rather than by one that lands
    // in the measured rounds and makes each page's next write log a full-page image. CHECKPOINT
    // needs a superuser or pg_checkpoint: without, the rounds run as they did.
    if (!opts.bindEveryKey) await keycord.deps.db.query('vacuum analyze licenses');
    await keycord.deps.db.query('checkpoint').catch(() => {});
    const [v] = await keycord.deps.db.query<{ server_version: string }>('show server_version');
    return { ...seeded, postgresVersion: v?.server_version ?? '?', poolSize: config.databasePoolSize, boundKeys };
  } finally {
    await keycord.close();
  }
}

/**
 * Starts bench/validate-server.ts as a child process and waits until it listens; from another
 * checkout of Keycord when `root` is given (bench:validate-ab compares two versions of the code).
 */
export async function startServer(env: Record<string, string>, root = BENCH_ROOT): Promise<{ child: ChildProcess; port: number }> {
  const script = root === BENCH_ROOT ? SERVER : join(root, 'bench', 'validate-server.ts');
  const { child, value: port } = await forkUntilReady(script, { env, cwd: root, label: 'bench server' }, (m) =>
    (m as ServerMessage).type === 'listening' ? (m as Extract<ServerMessage, { type: 'listening' }>).port : undefined,
  );
  return { child, port };
}

export const stopServer = stopChild;

/** Sends `message` to the server and waits for its answer of type `answer`. */
export function ask<T extends ServerMessage['type']>(child: ChildProcess, message: ParentMessage, answer: T): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve) => {
    const onMessage = (m: ServerMessage) => {
      if (m.type !== answer) return;
      child.off('message', onMessage);
      resolve(m as Extract<ServerMessage, { type: T }>);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** One request by hand: the body every benchmarked response must equal, after checking it is the right answer. */
export async function expectedBody(url: string, body: string, check: (res: Response, json: Record<string, unknown>) => void): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  check(res, JSON.parse(text));
  return text;
}

/** The validate target for a seeded license: its body, and the checked answer every response must equal. */
export async function validateTarget(base: string, seeded: Seeded, name = 'validate', route: 'validate' | 'heartbeat' = 'validate') {
  const body = JSON.stringify({ app_id: seeded.appId, license_key: seeded.licenseKey, hwid: seeded.hwid });
  const url = `${base}/api/licenses/${route}`;
  const expectBody = await expectedBody(url, body, (res, json) => {
    if (res.status !== 200 || json.code !== 'VALID' || !res.headers.get('x-signature-ed25519')) {
      throw new Error(`${route} answered ${res.status} ${JSON.stringify(json)}`);
    }
  });
  return { name, url, body, expectBody };
}

/**
 * A server bench's frame: a fresh database and its environment, then `body`; the server the body
 * started (`made.child`), the database and the run's Redis keys are released at the end, on
 * failure, or on Ctrl-C.
 */
export async function runServerBench(body: (bench: { db: BenchDatabase; env: Record<string, string>; made: { child?: ChildProcess | undefined } }) => Promise<void>): Promise<void> {
  const made: { child?: ChildProcess | undefined; db?: BenchDatabase | undefined; env?: Record<string, string> | undefined } = {};
  const cleanup = () => releaseBench(made);
  process.once('SIGINT', () => {
    console.log('\ninterrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  });
  try {
    const db = (made.db = await createBenchDatabase());
    const env = (made.env = keycordEnv(db.url, randomBytes(32).toString('hex')));
    await body({ db, env, made });
  } finally {
    await cleanup();
  }
}

/** Releases what a server bench made, whichever parts it got to: the server, the database, the run's Redis keys. */
async function releaseBench(made: { child?: ChildProcess | undefined; db?: BenchDatabase | undefined; env?: Record<string, string> | undefined }) {
  const { child, db, env } = made;
  if (child) await stopServer(child).catch(() => child.kill('SIGKILL'));
  if (db) await db.drop();
  if (env) await flushRedisPrefix(env.REDIS_URL!, env.QUEUE_PREFIX!).catch((err: Error) => console.error(`could not clean Redis: ${err.message}`));
}

/**
 * Floating seats on for the bench application (before the server starts, so no cache holds the old
 * settings), and every key's machine already holding its seat: the steady state of a fleet that is
 * running, as bench:validate starts with every key bound. What is measured is then the heartbeat
 * of a running machine; taking a seat (a machine starting) is the rarer path.
 */
export async function turnSeatsOn(url: string, applicationId: number, seats: number) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`update applications set settings = settings || ${sql.json({ max_concurrent: seats })} where id = ${applicationId}`;
    await sql`insert into license_seats (license_id, hwid, last_heartbeat_at)
      select l.id, l.hwids[1], now() from licenses l where l.application_id = ${applicationId} and cardinality(l.hwids) > 0`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
