import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** Deletes every key under a test file's queue prefix (the shared Redis stays clean). */
export async function flushRedisPrefix(url: string, prefix: string) {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * A redis-server of the test's own on a spare port, so a test can stop Redis and start it again
 * without touching the machine's shared one.
 */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Starts the server unless it runs already. Starting it twice used to spawn a second process that
   * could not bind the port and exited, while the ping reached the first: `stop` then killed the
   * dead one and the running redis-server outlived the test run.
   */
  async start() {
    if (this.proc && running(this.proc)) return;
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    this.proc = proc;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = new Redis(this.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      r.on('error', () => {});
      try {
        // Exited already (the port was taken): a pong now would come from another process.
        if (!running(proc)) throw new Error(`private redis-server exited (port ${this.port} taken?)`);
        await r.connect();
        await r.ping();
        r.disconnect();
        return;
      } catch {
        r.disconnect();
        if (!running(proc)) throw new Error(`private redis-server on port ${this.port} exited before it answered`);
        if (Date.now() > deadline) throw new Error('private redis-server did not start');
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }

  /** Stops the server answering while its connections stay open: a hung Redis (SIGSTOP). */
  freeze() {
    this.proc?.kill('SIGSTOP');
  }

  /** Lets a frozen server go on (SIGCONT). */
  thaw() {
    this.proc?.kill('SIGCONT');
  }

  async stop() {
    const proc = this.proc;
    if (!proc || !running(proc)) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }
}

/** Neither exited nor killed by a signal (a killed process has a null exit code and a signal code). */
const running = (proc: ChildProcess) => proc.exitCode === null && proc.signalCode === null;
