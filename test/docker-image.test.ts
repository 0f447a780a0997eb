import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/databases.js';
import { ROOT, spawnKeycordProcess, startKeycordProcess, type SpawnedKeycord } from './support/keycord-process.js';
import { flushRedisPrefix } from './support/redis.js';

/*
 * No Docker daemon here: the image is checked by running what it runs. The Dockerfile's CMD and
 * HEALTHCHECK are read from the file and executed as they are written (with this `node`), so the
 * test breaks when the file stops saying what the test proves.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUE_PREFIX = `kc-docker-${randomBytes(4).toString('hex')}`;
const SECRET = 'docker-test-secret-0123456789abcdef0123456789';

const databases: Awaited<ReturnType<typeof createTestDatabase>>[] = [];
const processes: SpawnedKeycord[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const s of servers) s.close();
  await flushRedisPrefix(REDIS_URL, QUEUE_PREFIX);
  for (const d of databases) await d.drop();
});

/** The Dockerfile's instructions, continuation lines joined and comments left out. */
function dockerfile(): { instruction: string; args: string }[] {
  return readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [instruction, ...rest] = line.split(/\s+/);
      return { instruction: instruction!.toUpperCase(), args: rest.join(' ') };
    });
}

/** An exec-form command (`["node", …]`): the form in which Docker runs no shell in between. */
function execForm(text: string): string[] {
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error(`not an exec-form command: ${text}`);
  return parsed as string[];
}

function imageCommand(): string[] {
  const cmds = dockerfile().filter((i) => i.instruction === 'CMD');
  expect(cmds).toHaveLength(1);
  return execForm(cmds[0]!.args);
}

function healthcheckCommand(): string[] {
  const [check] = dockerfile().filter((i) => i.instruction === 'HEALTHCHECK');
  const at = check!.args.indexOf('CMD ');
  return execForm(check!.args.slice(at + 'CMD '.length));
}

/** Runs a command from the Dockerfile with this machine's node standing in for the image's. */
function runAsImage(command: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  expect(command[0]).toBe('node');
  const child = spawn(process.execPath, command.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

const keycordEnv = (databaseUrl: string) => ({ DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX, KEYCORD_SECRET: SECRET, NODE_ENV: 'production', LOG_LEVEL: 'info' });

describe('the Docker image', () => {
  it('runs node itself as PID 1, on a script the image contains and the build context sends', () => {
    const command = imageCommand();
    // npx, npm and sh forward no SIGTERM to node: the shutdown sequence would never run.
    expect(command).toEqual(['node', 'bin/keycord.js', 'start']);
    const script = command[1]!;
    expect(existsSync(join(ROOT, script))).toBe(true);
    const copied = dockerfile()
      .filter((i) => i.instruction === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    // The old image left bin/ out: what the CMD runs, and what it loads, must be in the image.
    expect(copied).toEqual(expect.arrayContaining([script.split('/')[0], 'src', 'commands', 'migrations', 'tsconfig.json', 'package-lock.json']));
    for (const source of copied) expect(existsSync(join(ROOT, source)), source).toBe(true);

    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const source of copied) expect(ignored, `${source} is copied into the image`).not.toContain(source);
    // Secrets and local state stay out of the build context (and so out of the image's layers).
    expect(ignored).toEqual(expect.arrayContaining(['.env', 'node_modules', 'data', '.git']));
  });

  it('started as its CMD says, passes its HEALTHCHECK, and on SIGTERM shuts down in order and exits 0', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const command = imageCommand();
    const keycord = await startKeycordProcess(keycordEnv(database.url), [], { command: [process.execPath, ...command.slice(1)] });
    processes.push(keycord);
    const port = new URL(keycord.base).port;

    const healthcheck = healthcheckCommand();
    expect(await runAsImage(healthcheck, { PORT: port })).toBe(0);

    keycord.child.kill('SIGTERM');
    expect(await keycord.exited, keycord.output()).toEqual({ code: 0, signal: null });
    expect(keycord.output()).toMatch(/"signal":"SIGTERM","msg":"shutting down"/);
    // With nothing listening any more the same check reports the container unhealthy.
    expect(await runAsImage(healthcheck, { PORT: port })).toBe(1);
  });

  it('a SIGTERM that arrives during start-up stops Keycord through the ordered shutdown once start-up is done', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    databases.push(database);
    // Postgres behind a gate the test opens: start-up waits at its first query for as long as needed.
    const gate = await gatedProxy(Number(new URL(database.url).port || 5432));
    servers.push(gate.server);
    const throughGate = new URL(database.url);
    throughGate.port = String(gate.port);
    const keycord = await spawnKeycordProcess(keycordEnv(throughGate.toString()));
    processes.push(keycord);

    await untilOutput(keycord, /using Postgres at/);
    keycord.child.kill('SIGTERM');
    await untilOutput(keycord, /SIGTERM during start-up: stopping as soon as start-up is done/);
    gate.open();

    expect(await keycord.exited, keycord.output()).toEqual({ code: 0, signal: null });
    const output = keycord.output();
    expect(output.indexOf('Keycord is ready')).toBeGreaterThan(output.indexOf('SIGTERM during start-up'));
    expect(output.indexOf('"msg":"shutting down"')).toBeGreaterThan(output.indexOf('Keycord is ready'));
  });
});

describe('docker compose', () => {
  it('restarts keycord and gives its shutdown more time than the shutdown can take', () => {
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    // The keycord service: from its key to the next key at the same or a lower indent.
    const service = /^ {2}keycord:\n((?: {4,}.*\n|\s*\n)+)/m.exec(compose)?.[1];
    expect(service).toBeDefined();
    expect(service).toMatch(/^ {4}restart: unless-stopped$/m);
    const grace = Number(/^ {4}stop_grace_period: (\d+)s$/m.exec(service!)?.[1]);
    const shutdownGraceMs = Number(/^ {6}SHUTDOWN_GRACE_MS: (\d+)$/m.exec(service!)?.[1]);
    expect(shutdownGraceMs).toBeGreaterThan(0);
    // src/shutdown.ts: the grace, then two final steps (usage, database) of at most 10 s each.
    expect(grace * 1000).toBeGreaterThan(shutdownGraceMs + 2 * 10_000);
  });
});

/** Waits for a line of the process's output; the test's own timeout bounds the wait. */
async function untilOutput(p: SpawnedKeycord, pattern: RegExp) {
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (pattern.test(p.output())) return done(resolve);
      if (p.child.exitCode !== null || p.child.signalCode !== null) return done(() => reject(new Error(`exited before ${pattern}:\n${p.output()}`)));
    };
    const done = (then: () => void) => {
      p.child.stdout!.off('data', check);
      p.child.off('exit', check);
      then();
    };
    p.child.stdout!.on('data', check);
    p.child.on('exit', check);
    check();
  });
}

/** A TCP proxy to Postgres that holds every connection until `open()`. */
async function gatedProxy(targetPort: number): Promise<{ server: Server; port: number; open(): void }> {
  let isOpen = false;
  const waiting: Socket[] = [];
  const pipe = (client: Socket) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.resume();
  };
  const server = createServer({ pauseOnConnect: true }, (client) => {
    if (isOpen) pipe(client);
    else waiting.push(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as { port: number }).port,
    open() {
      isOpen = true;
      for (const client of waiting.splice(0)) pipe(client);
    },
  };
}
