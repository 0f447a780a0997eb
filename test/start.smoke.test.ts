import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startKeycordProcess, type KeycordProcess } from './support/keycord-process.js';
import { flushRedisPrefix } from './support/redis.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// The started process runs job workers and schedulers: its own queue prefix keeps them apart
// from any other Keycord on this Redis, and lets the test remove exactly its keys afterwards.
const QUEUE_PREFIX = `kc-smoke-${randomBytes(4).toString('hex')}`;

let keycord: KeycordProcess | undefined;
let dataDir: string | undefined;

/** The log's messages (JSON lines: stdout is not a terminal), in the order they were written. */
function messages(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg ?? ''));
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Each pattern matches a message after the one the previous pattern matched. */
function expectInOrder(output: string, patterns: RegExp[]) {
  const said = messages(output);
  let from = 0;
  for (const pattern of patterns) {
    const at = said.findIndex((m, i) => i >= from && pattern.test(m));
    expect(at, `no message matching ${pattern} after "${said[from - 1] ?? '(start)'}" in:\n${said.join('\n')}`).toBeGreaterThanOrEqual(0);
    from = at + 1;
  }
}

afterAll(async () => {
  if (keycord && keycord.child.exitCode === null && keycord.child.signalCode === null) keycord.child.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  // No Redis on this machine: the process had nothing to leave there.
  await flushRedisPrefix(REDIS_URL, QUEUE_PREFIX).catch(() => {});
});

describe('keycord start', () => {
  it('runs on embedded PGlite with a generated secret, serves a full key round trip, and stops cleanly on SIGTERM', { timeout: 150_000 }, async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'keycord-smoke-'));
    // No DATABASE_URL and no KEYCORD_SECRET: the newcomer's start, on embedded PGlite.
    keycord = await startKeycordProcess({
      DATA_DIR: dataDir,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      REDIS_URL,
      QUEUE_PREFIX,
      DATABASE_URL: undefined,
      KEYCORD_SECRET: undefined,
    });
    const { call } = keycord;
    const output = () => keycord!.output();
    // The first start tells what it is doing while it does it, and where to go when it is done.
    const port = new URL(keycord.base).port;
    expectInOrder(output(), [
      /^Keycord starting \(role all\)$/,
      new RegExp(`^creating the embedded database in ${escape(join(dataDir, 'pglite'))}`),
      /^migration 1\/(\d+): 0000_init$/,
      /^database ready: \d+ migrations applied$/,
      new RegExp(`^job provider: bullmq \\(Redis at ${escape(new URL(REDIS_URL).host)}, prefix ${QUEUE_PREFIX}\\), workers in this process$`),
      new RegExp(`^Keycord is ready: open http://127\\.0\\.0\\.1:${port}/docs$`),
    ]);
    const migrations = messages(output()).filter((m) => m.startsWith('migration '));
    const total = Number(/\/(\d+)/.exec(migrations[0]!)![1]);
    expect(migrations).toHaveLength(total);
    expect(migrations.at(-1)).toMatch(new RegExp(`^migration ${total}/${total}: `));
    expect(messages(output())).toContain('Discord bot off: set DISCORD_PUBLIC_KEY (HTTP interactions) or DISCORD_TOKEN (gateway), and DISCORD_APPLICATION_ID');
    const health = (await call('GET', '/api/health')).body;
    // Redis may be unreachable on a developer machine: the API serves anyway ("degraded").
    expect(health).toMatchObject({ status: expect.stringMatching(/^(ok|degraded)$/), checks: { database: 'ok' } });

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
    // The first answer is signed inline and starts the nonce thread, which `npm start` runs
    // outside tsx's loader (a plain .mjs); a later answer, once it has run, verifies as well.
    const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(app.body.public_key, 'hex')]), format: 'der', type: 'spki' });
    const signedBy = (res: typeof valid) => verify(null, Buffer.from(res.headers.get('x-signature-timestamp')! + res.text), publicKey, Buffer.from(res.headers.get('x-signature-ed25519')!, 'hex'));
    expect(signedBy(valid)).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    const again = await call('POST', '/api/licenses/validate', { app_id: app.body.app_id, license_key: key, hwid: 'SMOKE-PC' });
    expect(again.body).toMatchObject({ success: true, code: 'VALID' });
    expect(signedBy(again)).toBe(true);
    expect(output()).toMatch(/client answers are signed with nonces made ahead on a second thread/);
    expect(output()).not.toMatch(/nonce thread failed/);

    expect(output()).toMatch(/KEYCORD_SECRET is not set: generated a new one/);
    const secretFile = join(dataDir, 'keycord-secret');
    expect(existsSync(secretFile)).toBe(true);
    expect(readFileSync(secretFile, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    // The secret itself is never printed.
    expect(output()).not.toContain(readFileSync(secretFile, 'utf8').trim());
    expect(existsSync(join(dataDir, 'pglite'))).toBe(true);

    keycord.child.kill('SIGTERM');
    const { code, signal } = await keycord.exited;
    expect({ code, signal }, output()).toEqual({ code: 0, signal: null });
    expect(output()).toMatch(/shutting down/);

    // The next start on the same DATA_DIR (its lock given back) opens what the first one made.
    keycord = await startKeycordProcess({ DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'info', REDIS_URL, QUEUE_PREFIX, DATABASE_URL: undefined, KEYCORD_SECRET: undefined });
    expectInOrder(keycord.output(), [new RegExp(`^opening the embedded database in ${escape(join(dataDir, 'pglite'))}$`), /^database ready: schema up to date$/, /^Keycord is ready: open /]);
    expect((await keycord.call('POST', '/api/licenses/validate', { app_id: app.body.app_id, license_key: key, hwid: 'SMOKE-PC' })).body).toMatchObject({ success: true, code: 'VALID' });
    keycord.child.kill('SIGTERM');
    expect((await keycord.exited).code, keycord.output()).toBe(0);
  });
});

describe('the command line', () => {
  const run = async (...args: string[]) => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['bin/keycord.js', ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('--help prints the usage and exits 0; an unknown option or command says so with the usage, exit 2, no stack trace', async () => {
    expect(await run('--help')).toMatchObject({ code: 0, out: expect.stringContaining('Usage: keycord start') });
    const unknown = await run('start', '--bogus');
    expect(unknown).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--bogus'") });
    expect(unknown.err).toContain('Usage: keycord start');
    expect(unknown.err).not.toMatch(/\n\s+at /);
    expect(await run('stop')).toMatchObject({ code: 2, err: expect.stringContaining('Usage: keycord start') });
  });
});
