import { mkdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { placeFileExclusively, removeIfPresent } from '../place-file.js';

export const LOCK_FILE_NAME = 'keycord.lock';

/**
 * The holder touches its lock file this often, and a lock from another host untouched for
 * LOCK_STALE_AFTER_MS is taken as left behind: no pid can be asked across hosts (or containers,
 * where every Keycord is PID 1 and each has a host name of its own).
 */
const LOCK_TOUCH_EVERY_MS = 5_000;
const LOCK_STALE_AFTER_MS = 20_000;

/** What the lock file says about the process holding the directory. */
export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface DataDirLock {
  file: string;
  release(): void;
}

/** The embedded database takes one process; a second one on the same DATA_DIR stops with this. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
    readonly lockFile: string,
  ) {
    const where = holder.hostname === hostname() ? '' : ` on ${holder.hostname}`;
    super(
      `DATA_DIR ${dataDir} is in use by another Keycord (pid ${holder.pid}${where}, since ${holder.startedAt}). ` +
        'The embedded database serves one process: stop that one, or give this one another DATA_DIR, ' +
        `or set DATABASE_URL to share a Postgres. If no Keycord is running there, delete ${lockFile}` +
        (where ? ` (or start again: a lock from another host or container is taken over once it has gone ${LOCK_STALE_AFTER_MS / 1000} s without being updated).` : '.'),
    );
    this.name = 'DataDirInUseError';
  }
}

/** DATA_DIR cannot be created or written (a file in the way, no permission, a read-only mount). */
export class DataDirUnusableError extends Error {
  constructor(
    readonly dataDir: string,
    cause: unknown,
  ) {
    super(
      `DATA_DIR ${dataDir} cannot be used (${(cause as Error).message}). The embedded database lives there: ` +
        'give the user running Keycord write access to it, set DATA_DIR to a directory it can write, or set DATABASE_URL to use a Postgres.',
      { cause },
    );
    this.name = 'DataDirUnusableError';
  }
}

/** Lock files this process holds: opening the same directory twice in one process is refused too. */
const heldHere = new Set<string>();

/**
 * Takes DATA_DIR for this process. The lock file is written whole under a temporary name and
 * hard-linked into place (`link` fails when the name exists), so nobody ever reads a half-written
 * one. A lock whose process is gone (kill -9, power loss) is taken over.
 */
export async function lockDataDir(dataDir: string, timing: { touchEveryMs?: number; staleAfterMs?: number } = {}): Promise<DataDirLock> {
  const touchEveryMs = timing.touchEveryMs ?? LOCK_TOUCH_EVERY_MS;
  const staleAfterMs = timing.staleAfterMs ?? LOCK_STALE_AFTER_MS;
  const file = join(dataDir, LOCK_FILE_NAME);
  const me: LockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  if (heldHere.has(file)) throw new Error(`DATA_DIR ${dataDir} is already open in this process`);
  const attempt = () => {
    try {
      mkdirSync(dataDir, { recursive: true });
      return tryCreate(file, me);
    } catch (err) {
      throw new DataDirUnusableError(dataDir, err);
    }
  };
  // Two rounds: the second follows the removal of a stale lock.
  for (let round = 0; round < 2; round++) {
    if (attempt()) return holdLock(file, me, touchEveryMs);
    const holder = readHolder(file);
    if (holder && (await isAlive(holder, file, staleAfterMs))) throw new DataDirInUseError(dataDir, holder, file);
    // Two processes taking over the same stale lock at the same instant can both get here; the
    // window is one unlink and one link wide, which a person starting Keycord twice does not hit.
    removeIfPresent(file);
  }
  const holder = readHolder(file);
  throw new DataDirInUseError(dataDir, holder ?? me, file);
}

function tryCreate(file: string, me: LockHolder): boolean {
  return placeFileExclusively(file, JSON.stringify(me) + '\n', 0o644);
}

function holdLock(file: string, me: LockHolder, touchEveryMs: number): DataDirLock {
  heldHere.add(file);
  // process.exit and a crash skip every close(): the lock must not outlive the process that way.
  const onExit = () => release();
  process.on('exit', onExit);
  // Alive, as another host or container can tell (isAlive): the file's time moves while held.
  const touching = setInterval(() => {
    const current = readHolder(file);
    if (!current || current.pid !== me.pid || current.startedAt !== me.startedAt) return;
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // A directory gone or read-only meanwhile: the database itself will say so.
    }
  }, touchEveryMs);
  touching.unref();
  function release() {
    if (!heldHere.delete(file)) return;
    clearInterval(touching);
    process.off('exit', onExit);
    const current = readHolder(file);
    // Never remove a lock someone else took over (after ours was judged stale by mistake).
    if (current && current.pid === me.pid && current.startedAt === me.startedAt) removeIfPresent(file);
  }
  return { file, release };
}

/** The holder named in the file, or undefined when it is gone or is not a lock Keycord wrote. */
export function readHolder(file: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isInteger(parsed.pid) || (parsed.pid as number) <= 0) return undefined;
    return { pid: parsed.pid as number, hostname: String(parsed.hostname ?? 'unknown host'), startedAt: String(parsed.startedAt ?? 'unknown time') };
  } catch {
    return undefined;
  }
}

async function isAlive(holder: LockHolder, file: string, staleAfterMs: number): Promise<boolean> {
  // A lock no pid check can settle is alive while its holder keeps touching it:
  // - one from another host: another container on the same volume (each has a host name of its
  //   own, and is PID 1 like this one), or a directory shared over the network;
  // - one naming this very pid: in a container Keycord is PID 1 on every start, so it is either
  //   a previous life of this container (after a kill -9) or a twin container sharing the host
  //   name (`network_mode: host`). Once taken for a previous life at once, a twin took over a
  //   live lock and both opened the database.
  // A fresh one is watched until it moves (held) or goes stale (left behind): at most
  // LOCK_STALE_AFTER_MS after its holder's last touch, so a holder whose event loop is busy for a
  // few seconds is not mistaken for a dead one.
  if (holder.hostname !== hostname() || holder.pid === process.pid) return touchedUntilStale(file, staleAfterMs);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user; it still holds the directory.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the lock file is touched again before it has gone `staleAfterMs` without a touch. */
async function touchedUntilStale(file: string, staleAfterMs: number): Promise<boolean> {
  const first = mtimeOf(file);
  if (first === undefined) return false;
  const staleAt = first + staleAfterMs;
  while (Date.now() < staleAt) {
    await sleep(Math.min(100, Math.max(1, staleAt - Date.now())));
    const now = mtimeOf(file);
    if (now === undefined) return false;
    if (now !== first) return true;
  }
  return false;
}

function mtimeOf(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}
