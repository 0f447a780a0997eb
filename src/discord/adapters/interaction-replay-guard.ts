import { settleWithin } from '../../settle-within.js';
import type { Redis } from 'ioredis';
import { snowflakeTime } from '../snowflake.js';

export type InteractionIdVerdict = 'fresh' | 'replayed' | 'out-of-window' | 'not-a-snowflake';

/**
 * Past this many ids in one window the oldest is forgotten. Only Discord can sign interactions, so
 * the cap is reached by genuine traffic (over 300 interactions a second), never by a replayer: it
 * bounds memory without ever refusing real users, and what it reopens is the id closest to the
 * end of its window.
 */
export const MAX_REMEMBERED_INTERACTIONS = 100_000;

/** A Redis that does not answer in this time is skipped; Discord wants an answer within 3 s. */
const REDIS_TIMEOUT_MS = 500;

/**
 * The ids this process has handled, each until its window closes. Ids arrive roughly in the order
 * of their times, so the expired ones are at the front of the (insertion-ordered) map; whatever a
 * late arrival keeps behind it, the cap bounds.
 */
export class RecentInteractionIds {
  private readonly forgetAt = new Map<string, number>();

  constructor(private readonly cap = MAX_REMEMBERED_INTERACTIONS) {}

  get size(): number {
    return this.forgetAt.size;
  }

  /** True the first time an id is seen within its window. */
  remember(id: string, forgetAt: number, now: number): boolean {
    for (const [old, at] of this.forgetAt) {
      if (at > now) break;
      this.forgetAt.delete(old);
    }
    if (this.forgetAt.has(id)) return false;
    if (this.forgetAt.size >= this.cap) this.forgetAt.delete(this.forgetAt.keys().next().value!);
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

  private async firstAcrossReplicas(id: string, ttlMs: number): Promise<boolean> {
    const redis = this.opts.redis;
    if (!redis || redis.status !== 'ready') return true;
    try {
      const set = redis.set(this.redisPrefix + id, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      return (await settleWithin(set, REDIS_TIMEOUT_MS, 'timeout' as const)) !== null;
    } catch {
      return true;
    }
  }
}
