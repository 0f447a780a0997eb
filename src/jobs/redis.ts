import { Redis } from 'ioredis';
// Not in ioredis's index: what a connection runs when its socket closes (see hangUp).
import { closeHandler } from 'ioredis/built/redis/event_handler.js';
import type { Logger } from '../log.js';

/** The longest a producer command waits for its answer. Keycord's take a few milliseconds. */
const PRODUCER_COMMAND_TIMEOUT_MS = 5000;

/**
 * Two kinds of connection. Producers (the outbox relay, health, the dashboard) fail fast while
 * Redis is away — nothing waits on it, the outbox keeps the work. Workers block on Redis by
 * design and must retry forever (BullMQ requires `maxRetriesPerRequest: null`).
 */
export function createRedis(url: string, kind: 'producer' | 'worker'): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: kind === 'worker',
    maxRetriesPerRequest: kind === 'worker' ? null : 1,
    // A Redis that keeps the socket open and stops answering (hung, paused, a dead peer behind a
    // proxy) would hold every producer call for as long: a Bull Board page, and with it a stop's
    // HTTP step; a lease renewal; a hand-off to the retry schedule. Workers block on Redis by design.
    ...(kind === 'producer' ? { commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS } : {}),
    // Reconnect quickly at first, then every 2 s at most, forever.
    retryStrategy: (times) => Math.min(times * 200, 2000),
    connectTimeout: 3000,
  });
  // ioredis re-emits every failed reconnect; the RedisMonitor reports outages once, loudly.
  redis.on('error', () => {});
  return redis;
}

/**
 * Closes a connection for good, whatever it is doing. ioredis's disconnect() alone leaves a
 * connection that is waiting to reconnect (Redis down, status `reconnecting`) half closed: it
 * clears the reconnect timer and ends a socket that is already gone, so nothing ever ends the
 * connection (ioredis issue #1247). Its status stays `reconnecting`, no 'end' is emitted, and
 * whatever waits for the connection — BullMQ waits for 'ready' or 'end' before a queue's first
 * command, commands in the offline queue — waits forever: `keycord start` with Redis down hung
 * on SIGTERM until its shutdown grace ran out. Here the close that a closed socket would have run
 * runs: status `end`, 'end' emitted, queued commands rejected.
 */
export function hangUp(redis: Redis): void {
  redis.disconnect();
  if (redis.status === 'reconnecting') closeHandler(redis)();
}

/**
 * Watches one connection and says so — once per outage — when jobs pause and when they resume.
 */
export class RedisMonitor {
  private up = true;
  private closing = false;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {
    redis.on('error', (err: Error) => this.down(err));
    redis.on('end', () => this.down(new Error('connection ended')));
    redis.on('ready', () => {
      if (!this.up) this.log.warn('Redis is back: background jobs resume and the outbox is being relayed');
      this.up = true;
    });
  }

  /** Our own shutdown is not an outage. */
  stop() {
    this.closing = true;
  }

  private down(err: Error) {
    if (!this.up || this.closing) return;
    this.up = false;
    this.log.error({ err: err.message }, 'REDIS UNREACHABLE: background jobs are paused. The API keeps serving; events wait in the outbox until Redis is back.');
  }

  async check(): Promise<'ok' | 'down'> {
    if (this.redis.status !== 'ready') return 'down';
    try {
      await this.redis.ping();
      return 'ok';
    } catch {
      return 'down';
    }
  }
}
