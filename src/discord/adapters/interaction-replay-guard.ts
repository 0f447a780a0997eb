import { settleWithin } from '../../settle-within.js';
import { ArrivalOrderedMap } from '../../core/arrival-ordered-map.js';
import type { Redis } from 'ioredis';
import { snowflakeTime } from '../snowflake.js';

export type InteractionIdVerdict = 'fresh' | 'replayed' | 'out-of-window' | 'not-a-snowflake';

/**
 * Past this many ids in one window the oldest is forgotten. Only Discord can sign interactions, so
 * the cap is reached by genuine traffic (over 300 interactions a second), never by a replayer: it
 * bounds memory without ever refusing real users, and what it reopens is the id closest to the
 * end of its window.
 */
const MAX_REMEMBERED_INTERACTIONS = 100_000;

/** A Redis that does not answer in this time is skipped; Discord wants an answer within 3 s. */
const REDIS_TIMEOUT_MS = 500;

/**
 * The ids this process has handled, each until its window closes. Ids arrive roughly in the order
 * of their times, so the expired ones are at the front of the arrival order; whatever a late
 * arrival keeps behind it, the cap bounds.
 */
export class RecentInteractionIds {
  private readonly forgetAt = new ArrivalOrderedMap<string, number>();

  constructor(private readonly cap = MAX_REMEMBERED_INTERACTIONS) {}

  get size(): number {
    return this.forgetAt.size;
  }

  /** True the first time an id is seen within its window. */
  remember(id: string, forgetAt: number, now: number): boolean {
    this.forgetAt.dropOldestWhile((at) => at <= now);
    if (this.forgetAt.has(id)) return false;
    if (this.forgetAt.size >= this.cap) this.forgetAt.deleteOldest();
    this.forgetAt.set(id, forgetAt);
    return true;
  }
}

export interface ReplayGuardOptions {
  /** How far an interaction's time (from its id) may be from now, either way. */
  windowMs: number;
  cap?: number;
  /** With Redis, ids are shared by every API replica (SET NX with the window as TTL). */
  redis?: Redis | null;
  redisPrefix?: string;
}

/**
 * Refuses a signed interaction seen before. A valid signature proves Discord sent the body once,
 * not that this is the first time it arrives: anyone who captured a request could post it again
 * while its timestamp is fresh. The id says when Discord created the interaction, so ids outside
 * the window are refused outright and every remembered id can be forgotten when its window closes.
 * Each process remembers the ids it handled; Redis, when there is one, adds the other replicas'.
 * While Redis is away the check falls back to this process's memory rather than refuse service.
 */
export class InteractionReplayGuard {
  readonly recent: RecentInteractionIds;
  private readonly redisPrefix: string;
  /** Ids waiting for the Redis claim of this turn of the event loop. */
  private claims: { key: string; ttlMs: number; settle: (first: boolean) => void }[] = [];

  constructor(private readonly opts: ReplayGuardOptions) {
    this.recent = new RecentInteractionIds(opts.cap);
    this.redisPrefix = `${opts.redisPrefix ?? 'keycord'}:discord-interaction:`;
  }

  async check(id: unknown, now: number): Promise<InteractionIdVerdict> {
    const createdAt = snowflakeTime(id);
    if (createdAt === null) return 'not-a-snowflake';
    if (Math.abs(now - createdAt) > this.opts.windowMs) return 'out-of-window';
    const forgetAt = createdAt + this.opts.windowMs;
    if (!this.recent.remember(id as string, forgetAt, now)) return 'replayed';
    return (await this.firstAcrossReplicas(id as string, forgetAt - now)) ? 'fresh' : 'replayed';
  }

  /**
   * Whether no replica claimed the id before (SET NX). Under load many interactions arrive in one
   * turn of the event loop; their claims go to Redis as one pipeline, one write and one reply
   * read instead of one per interaction. Each claim is still its own SET NX, answered on its own.
   */
  private firstAcrossReplicas(id: string, ttlMs: number): Promise<boolean> {
    const redis = this.opts.redis;
    if (!redis || redis.status !== 'ready') return Promise.resolve(true);
    return new Promise((settle) => {
      if (this.claims.push({ key: this.redisPrefix + id, ttlMs, settle }) === 1) setImmediate(() => this.sendClaims(redis));
    });
  }

  private async sendClaims(redis: Redis): Promise<void> {
    const claims = this.claims;
    this.claims = [];
    try {
      const pipeline = redis.pipeline();
      for (const c of claims) pipeline.set(c.key, '1', 'PX', Math.max(1, Math.ceil(c.ttlMs)), 'NX');
      const replies = await settleWithin(pipeline.exec(), REDIS_TIMEOUT_MS, 'timeout' as const);
      // A claim Redis did not answer (timeout, error) counts as first: this process's memory
      // already refused any repeat it saw, and Redis being away must not refuse service.
      claims.forEach((c, i) => {
        const reply = replies === 'timeout' ? undefined : replies?.[i];
        c.settle(!reply || reply[0] !== null || reply[1] !== null);
      });
    } catch {
      for (const c of claims) c.settle(true);
    }
  }
}
