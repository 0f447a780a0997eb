import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, LOCK_FILE_NAME, lockDataDir, readHolder } from '../src/db/data-dir-lock.js';
import { spawnKeycordProcess, startKeycordProcess, type SpawnedKeycord } from './support/keycord-process.js';
import { flushRedisPrefix } from './support/redis.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUE_PREFIX = `kc-lock-${process.pid}`;

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await flushRedisPrefix(REDIS_URL, QUEUE_PREFIX).catch(() => {});
});

function freshDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'keycord-lock-'));
  dirs.push(dir);
  return dir;
}

/** A pid that belonged to a process and no longer does: what kill -9 leaves in a lock file. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ['-e', '0']);
  return pid!;
}

/** Another live process, standing in for a Keycord that holds a directory. */
function liveProcess(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

function writeLock(dir: string, pid: number) {
  writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z' }) + '\n');
}

describe('the DATA_DIR lock', () => {
  it('names this process in the lock file while held and removes the file on release', async () => {
    const dir = freshDataDir();
    const lock = await lockDataDir(dir);
    expect(readHolder(lock.file)).toMatchObject({ pid: process.pid, hostname: hostname() });
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
  });

  it('refuses a directory held by another running process, naming the directory and its pid', async () => {
    const dir = freshDataDir();
    const other = liveProcess();
    writeLock(dir, other.pid!);
    let error: unknown;
    try {
      await lockDataDir(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DataDirInUseError);
    expect((error as Error).message).toContain(dir);
    expect((error as Error).message).toContain(`pid ${other.pid}`);
    // The holder's lock is left as it was.
    expect(readHolder(join(dir, LOCK_FILE_NAME))?.pid).toBe(other.pid);
  });

  it('takes over a lock left by a process that is gone, and one that is not a lock at all', async () => {
    const stale = freshDataDir();
    writeLock(stale, deadPid());
    const lock = await lockDataDir(stale);
    expect(readHolder(lock.file)?.pid).toBe(process.pid);
    lock.release();

    const garbled = freshDataDir();
    writeFileSync(join(garbled, LOCK_FILE_NAME), 'not json');
    const second = await lockDataDir(garbled);
    expect(readHolder(second.file)?.pid).toBe(process.pid);
    second.release();
  });

  it('takes over a lock naming its own pid from an earlier life (PID 1 in a container) once it is no longer touched, but not one it holds', async () => {
    const dir = freshDataDir();
    writeLock(dir, process.pid);
    // Nothing touches it: once stale, it is a previous life's.
    const lock = await lockDataDir(dir, { staleAfterMs: 300 });
    await expect(lockDataDir(dir)).rejects.toThrow(/already open in this process/);
    lock.release();
  });

  it('refuses a lock naming its own pid that is still being touched: a twin container sharing the host name, PID 1 too', async () => {
    const dir = freshDataDir();
    writeLock(dir, process.pid);
    const file = join(dir, LOCK_FILE_NAME);
    const twin = setInterval(() => {
      const now = new Date();
      utimesSync(file, now, now);
    }, 50);
    try {
      await expect(lockDataDir(dir, { staleAfterMs: 1_000 })).rejects.toThrow(DataDirInUseError);
      expect(readHolder(file)?.startedAt).toBe('2026-01-01T00:00:00.000Z');
    } finally {
      clearInterval(twin);
    }
  });

  it('leaves alone a lock another process took over after its own was judged stale', async () => {
    const dir = freshDataDir();
    const lock = await lockDataDir(dir);
    const other = liveProcess();
    writeLock(dir, other.pid!);
    lock.release();
    expect(readHolder(join(dir, LOCK_FILE_NAME))?.pid).toBe(other.pid);
  });
});

describe('two Keycords on one DATA_DIR', () => {
  it('the second exits at once naming the directory and the first one’s pid; a stale lock blocks nobody; one that cannot listen gives the directory back', { timeout: 120_000 }, async () => {
    const dataDir = freshDataDir();
    // What a Keycord killed with -9 leaves behind.
    writeLock(dataDir, deadPid());
    const env = { DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'info', REDIS_URL, QUEUE_PREFIX, DATABASE_URL: undefined, KEYCORD_SECRET: undefined };
    const first = await startKeycordProcess(env);
    children.push(first.child);
    expect(readHolder(join(dataDir, LOCK_FILE_NAME))?.pid).toBe(first.child.pid);

    // The reproducer: a worker started beside the API on the same embedded database.
    const second: SpawnedKeycord = await spawnKeycordProcess(env, ['--role', 'worker']);
    children.push(second.child);
    const { code } = await second.exited;
    expect(code, second.output()).toBe(1);
    expect(second.output()).toContain(`DATA_DIR ${dataDir} is in use by another Keycord (pid ${first.child.pid}`);
    expect(second.output()).not.toMatch(/creating the embedded database|opening the embedded database/);

    // The first one never noticed, and gives the directory back when it stops.
    expect((await first.call('GET', '/api/health')).body).toMatchObject({ checks: { database: 'ok' } });
    first.child.kill('SIGTERM');
    expect((await first.exited).code, first.output()).toBe(0);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
    expect(readFileSync(join(dataDir, 'keycord-secret'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);

    // One that cannot listen (the port is taken) says so, exits 1, and leaves the directory free.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const blocked = await spawnKeycordProcess({ ...env, PORT: String((taken.address() as AddressInfo).port) });
      children.push(blocked.child);
      expect((await blocked.exited).code, blocked.output()).toBe(1);
      expect(blocked.output()).toContain(`"msg":"Cannot listen on 127.0.0.1:${(taken.address() as AddressInfo).port}: the port is in use`);
      expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
    } finally {
      taken.close();
    }
  });
});

describe('a DATA_DIR lock from another host or container', () => {
  /** A lock naming `holder`'s host, last updated `ageMs` ago. */
  function foreignLock(dir: string, pid: number, ageMs: number) {
    const file = join(dir, LOCK_FILE_NAME);
    writeFileSync(file, JSON.stringify({ pid, hostname: 'another-container', startedAt: '2026-01-01T00:00:00.000Z' }) + '\n');
    const at = new Date(Date.now() - ageMs);
    utimesSync(file, at, at);
  }

  it('is refused while its holder keeps it updated, even naming this process’s own pid (PID 1 in every container)', async () => {
    const dir = freshDataDir();
    foreignLock(dir, process.pid, 0);
    const file = join(dir, LOCK_FILE_NAME);
    const holder = setInterval(() => {
      const now = new Date();
      utimesSync(file, now, now);
    }, 50);
    try {
      await expect(lockDataDir(dir, { staleAfterMs: 1_000 })).rejects.toThrow(/another-container.*taken over once it has gone 20 s without being updated/);
    } finally {
      clearInterval(holder);
    }
  });

  it('is taken over once it has gone unupdated for a while (its container was killed)', async () => {
    const dir = freshDataDir();
    foreignLock(dir, process.pid, 60_000);
    const lock = await lockDataDir(dir);
    expect(readHolder(lock.file)).toMatchObject({ pid: process.pid, hostname: hostname() });
    lock.release();
    // One touched a moment ago that stops being touched: taken over once stale, not refused.
    const killed = freshDataDir();
    foreignLock(killed, process.pid, 0);
    const after = await lockDataDir(killed, { staleAfterMs: 300 });
    expect(readHolder(after.file)?.pid).toBe(process.pid);
    after.release();
  });

  it('stays updated while held, so another host can tell it is alive', async () => {
    const dir = freshDataDir();
    const lock = await lockDataDir(dir, { touchEveryMs: 50 });
    try {
      const old = new Date(Date.now() - 60_000);
      utimesSync(lock.file, old, old);
      await new Promise((r) => setTimeout(r, 300));
      expect(Date.now() - statSync(lock.file).mtimeMs).toBeLessThan(5_000);
    } finally {
      lock.release();
    }
  });
});
