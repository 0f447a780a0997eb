import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface KeycordProcess extends SpawnedKeycord {
  /** A JSON call: status, headers, raw text and parsed body. */
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; headers: Headers; text: string; body: Record<string, any> }>;
}

export interface SpawnedKeycord {
  child: ChildProcess;
  base: string;
  /** Everything the process printed so far, stdout and stderr. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** The working directory (where `.env` is looked for); the repository by default. */
  cwd?: string;
  /** The program and its arguments before `start`; `node bin/keycord.js` by default. */
  command?: string[];
}

/**
 * `keycord start` as an operator runs it (bin/keycord.js), on a port of its own, without waiting
 * for it. The environment is the caller's plus `env`; test-runner variables removed.
 */
export async function spawnKeycordProcess(env: NodeJS.ProcessEnv, args: string[] = [], opts: SpawnOptions = {}): Promise<SpawnedKeycord> {
  const port = await freePort();
  const full: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env };
  for (const k of ['VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete full[k];
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
  let output = '';
  const [program, ...programArgs] = opts.command ?? [process.execPath, join(ROOT, 'bin/keycord.js'), 'start'];
  const child = spawn(program!, [...programArgs, ...args], { cwd: opts.cwd ?? ROOT, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/** `keycord start` (see spawnKeycordProcess), once /api/health answers. */
export async function startKeycordProcess(env: NodeJS.ProcessEnv, args: string[] = [], opts: SpawnOptions = {}): Promise<KeycordProcess> {
  const { child, base, output, exited } = await spawnKeycordProcess(env, args, opts);
  const deadline = Date.now() + 40_000;
  let healthy = false;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(`${base}/api/health`)).ok) {
        healthy = true;
        break;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!healthy) {
    child.kill('SIGKILL');
    throw new Error(`keycord did not become healthy; output:\n${output()}`);
  }
  const call: KeycordProcess['call'] = async (method, path, body, token) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: JSON.parse(text) as Record<string, any> };
  };
  return { child, base, output, exited, call };
}

/** The process's exit; one still running after `ms` is killed, so a test never hangs on it. */
export async function exitOf(keycord: SpawnedKeycord, ms = 60_000) {
  const timer = setTimeout(() => keycord.child.kill('SIGKILL'), ms);
  try {
    return await keycord.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The log entries at level fatal (pino: 60) in what the process printed. */
export function fatalLines(output: string): { msg: string }[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((entry) => entry.level === 60);
}

/**
 * `state` in the embedded database's pg_control (after the system identifier and two version
 * numbers): 1 when Postgres was shut down, 6 while it was in production, as after a process that
 * exited without closing it.
 */
export function embeddedDatabaseState(dataDir: string): number {
  return readFileSync(join(dataDir, 'pglite', 'global', 'pg_control')).readUInt32LE(16);
}
