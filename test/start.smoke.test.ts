import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A port the OS says is free right now: listen on 0, read it, close. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// The started process runs job workers and schedulers: its own queue prefix keeps them apart
// from any other Keycord on this Redis, and lets the test remove exactly its keys afterwards.
const QUEUE_PREFIX = `kc-smoke-${randomBytes(4).toString('hex')}`;

let child: ChildProcess | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${QUEUE_PREFIX}:*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // No Redis: the process had nothing to leave there.
  } finally {
    redis.disconnect();
  }
});

describe('keycord start', () => {
  it('runs on embedded PGlite with a generated secret, serves a full key round trip, and stops cleanly on SIGTERM', { timeout: 90_000 }, async () => {
    const port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), 'keycord-smoke-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      REDIS_URL,
      QUEUE_PREFIX,
    };
    delete env.DATABASE_URL;
    delete env.KEYCORD_SECRET;
    delete env.VITEST;
    delete env.VITEST_POOL_ID;
    delete env.VITEST_WORKER_ID;

    let output = '';
    child = spawn(process.execPath, ['bin/keycord.js', 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.on('exit', (code, signal) => resolve({ code, signal })));

    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 40_000;
    let health: Record<string, unknown> | undefined;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`${base}/api/health`);
        if (res.ok) {
          health = (await res.json()) as Record<string, unknown>;
          break;
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // Redis may be unreachable on a developer machine: the API serves anyway ("degraded").
    expect(health, `the server did not become healthy; output:\n${output}`).toMatchObject({ status: expect.stringMatching(/^(ok|degraded)$/), checks: { database: 'ok' } });

    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const res = await fetch(base + path, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, body: JSON.parse(text) as Record<string, any> };
    };

    const reg = await call('POST', '/api/auth/register', { email: 'smoke@example.test', username: 'smoke', password: 'smoke test password' });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const token = reg.body.token as string;
    const app = await call('POST', '/api/applications', { name: 'Smoke App' }, token);
    expect(app.status).toBe(201);
    const plan = await call('POST', '/api/plans/', { application_id: app.body.id, name: 'Monthly', duration_days: 30 }, token);
    expect(plan.status).toBe(201);
    const gen = await call('POST', '/api/licenses/generate', { plan_id: plan.body.id, count: 1, format: 'random' }, token);
    expect(gen.status).toBe(200);
    const key = gen.body.licenses[0].license_key as string;
    const valid = await call('POST', '/api/licenses/validate', { app_id: app.body.app_id, license_key: key, hwid: 'SMOKE-PC' });
    expect(valid.status).toBe(200);
    expect(valid.body).toMatchObject({ success: true, code: 'VALID', message: 'License activated successfully' });
    // Signed on the signing thread, which `npm start` runs outside tsx's loader (a plain .mjs).
    const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(app.body.public_key, 'hex')]), format: 'der', type: 'spki' });
    const signed = Buffer.from(valid.headers.get('x-signature-timestamp')! + valid.text);
    expect(verify(null, signed, publicKey, Buffer.from(valid.headers.get('x-signature-ed25519')!, 'hex'))).toBe(true);
    expect(output).toMatch(/client answers are signed on a signing thread/);
    expect(output).not.toMatch(/signing thread failed/);

    expect(output).toMatch(/KEYCORD_SECRET is not set: generated a new one/);
    const secretFile = join(dataDir, 'keycord-secret');
    expect(existsSync(secretFile)).toBe(true);
    expect(readFileSync(secretFile, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    // The secret itself is never printed.
    expect(output).not.toContain(readFileSync(secretFile, 'utf8').trim());
    expect(existsSync(join(dataDir, 'pglite'))).toBe(true);

    child.kill('SIGTERM');
    const { code, signal } = await exited;
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });
    expect(output).toMatch(/shutting down/);
  });
});
