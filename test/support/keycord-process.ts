import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface KeycordProcess {
  child: ChildProcess;
  base: string;
  /** Everything the process printed so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** A JSON call: status, headers, raw text and parsed body. */
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; headers: Headers; text: string; body: Record<string, any> }>;
}

/**
 * `keycord start` as an operator runs it (bin/keycord.js), on a port of its own, waiting until
 * /api/health answers. The environment is the caller's plus `env`; test-runner variables removed.
 */
export async function startKeycordProcess(env: NodeJS.ProcessEnv, args: string[] = []): Promise<KeycordProcess> {
  const port = await freePort();
  const full: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env };
  for (const k of ['VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete full[k];
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
  let output = '';
  const child = spawn(process.execPath, ['bin/keycord.js', 'start', ...args], { cwd: ROOT, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
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
    throw new Error(`keycord did not become healthy; output:\n${output}`);
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
  return { child, base, output: () => output, exited, call };
}
