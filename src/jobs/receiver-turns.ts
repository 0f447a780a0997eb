/**
 * Turns at each receiver origin (scheme, host, port) for a process's webhook POSTs, so that one
 * receiver that is slow or hangs cannot take the whole webhook concurrency. A POST hangs for up to
 * the webhook timeout; without this, a bulk ban whose receiver never answered held every slot of
 * the process for N × 10 s / concurrency, and every other seller's deliveries waited behind it.
 *
 * An origin has `share` POSTs in flight at most while it is slow; one that answers (a POST of it
 * ended within SLOW_MS and none in flight is older than that) may have up to `max`, so a fast
 * receiver's burst goes at the speed it did. A POST past the limit waits in its origin's own
 * queue, holding no slot of the process's limiter (callers take that after their turn), for
 * MAX_WAIT_MS at most — none at all once the origin is known slow — and is then turned away
 * (`null`): the caller leaves it to the retry schedule as an attempt not made. Origins are kept
 * only while they have POSTs in flight or waiting, or ended one within SLOW_MS.
 *
 * Per origin alone, a seller with webhooks on many slow origins had a share at each, and together
 * they could still take every slot. So a POST also names its tenant (the seller: the application's
 * owner), and a POST to an origin that does not answer first takes a turn of its tenant, by the
 * same rule one level up: `tenantShare` such POSTs in flight across all its origins while they are
 * slow, up to `max` while they answer, then the origin's turn. A POST to an origin that answers
 * skips the tenant's turn: it ends within SLOW_MS and holds nothing from the others, so a seller
 * whose receivers answer is never held back, however many it has, even beside one that hangs.
 * Tenants are kept as origins are.
 */

/** An origin (tenant) whose oldest POST in flight is older than this (or that ended none as recently) is slow. */
const SLOW_MS = 1000;
/** How long a POST waits for its tenant's turn, then as long again at most for its origin's, before it is turned away. */
const MAX_WAIT_MS = 2000;
/** Never more than undici's connections per origin (receiver-pools.ts): past them it queues anyway. */
const MAX_PER_ORIGIN = 64;

/** Ends a turn; calling it again does nothing. */
export type EndTurn = () => void;
/** Whose POSTs share one bound across their origins: the application's owner (a developer id). */
export type Tenant = string | number;
/** A turn at `url`'s origin for a POST of `tenant` (without one, bound by its origin alone), or null. */
export type ReceiverTurn = (url: string, tenant?: Tenant) => Promise<EndTurn | null>;

/** Ends a lane's turn; `posted` false when no POST was made (its origin had no turn), which tells nothing of the receivers. */
type EndLaneTurn = (posted?: boolean) => void;

interface Waiter {
  resolve: (end: EndLaneTurn | null) => void;
  until: number;
}

/** One origin's, or one tenant's, POSTs in flight and waiting. */
interface Lane {
  /** Start times of the POSTs in flight, oldest first (a Map keeps insertion order). */
  running: Map<number, number>;
  lastEndedAt: number | undefined;
  // A queue read from `head`: a burst may put thousands here, and Array#shift is O(n).
  waiting: Waiter[];
  head: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The in-flight bounds for a process of `concurrency` POSTs: of a slow origin, of a slow tenant's
 * POSTs across its origins, and of one that answers. One that answers is never held back below
 * what it had before turns: only slowness costs slots. A receiver that starts to hang mid-burst
 * thus holds what it has in flight until those POSTs time out (10 s), and its share from then on.
 * A tenant's bound is twice an origin's, so that one receiver of it that hangs leaves as much again
 * for its others (an idle receiver has not answered lately, so its POSTs take the tenant's turns
 * too), but never more than half the process, the other half being for everyone else; and never
 * less than an origin's share, which would make that share unreachable.
 */
export function receiverShares(concurrency: number): { share: number; tenantShare: number; max: number } {
  const share = Math.min(MAX_PER_ORIGIN, Math.max(4, Math.ceil(concurrency / 4)));
  const tenantShare = Math.max(share, Math.min(2 * share, Math.floor(concurrency / 2)));
  return { share, tenantShare, max: Math.max(share, concurrency) };
}

const noTurnNeeded: EndTurn = () => {};

export class ReceiverTurns {
  private readonly origins: Lanes;
  private readonly tenants: Lanes;

  constructor(concurrency: number) {
    const { share, tenantShare, max } = receiverShares(concurrency);
    this.origins = new Lanes(share, max);
    this.tenants = new Lanes(tenantShare, max);
  }

  /** A turn at `url`'s origin (end it when the POST is over), or null: the origin, or its tenant, is busy. */
  readonly take: ReceiverTurn = (url, tenant) => {
    const origin = originOf(url);
    // Not a URL: the POST fails at once without connecting, so it needs no turn.
    if (origin === null) return Promise.resolve(noTurnNeeded);
    if (tenant === undefined || this.origins.answers(origin, Date.now())) return this.origins.take(origin);
    return this.takeAsTenant(tenant, origin);
  };

  /** Origins and tenants kept (in flight, waiting, or ended a POST within SLOW_MS). */
  kept(): { origins: number; tenants: number } {
    return { origins: this.origins.size, tenants: this.tenants.size };
  }

  /**
   * Both turns, never one held while the other is waited for: a tenant turn held in a hanging
   * origin's queue would starve the tenant's other receivers (its whole bound parked at one origin),
   * and an origin turn held in the tenant's queue would hold up other tenants at a shared origin.
   * So the tenant's turn first; the origin's with it if free now, else the tenant's is given back,
   * the origin's waited for, and the tenant's taken with it only if free then (else busy).
   */
  private async takeAsTenant(tenant: Tenant, origin: string): Promise<EndTurn | null> {
    const endTenant = await this.tenants.take(tenant);
    if (endTenant === null) return null;
    const endOriginNow = this.origins.tryTake(origin);
    if (endOriginNow !== null) return both(endOriginNow, endTenant);
    endTenant(false);
    const endOrigin = await this.origins.take(origin);
    if (endOrigin === null) return null;
    const endTenantThen = this.tenants.tryTake(tenant);
    if (endTenantThen === null) {
      endOrigin(false);
      return null;
    }
    return both(endOrigin, endTenantThen);
  }
}

const both =
  (a: EndLaneTurn, b: EndLaneTurn): EndTurn =>
  () => {
    a();
    b();
  };

/** Turns by key (an origin, a tenant): `share` in flight while slow, up to `max` while it answers. */
class Lanes {
  private readonly lanes = new Map<string | number, Lane>();
  private seq = 0;

  constructor(
    private readonly share: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.lanes.size;
  }

  /** Whether `key` answers: it ended a POST lately and holds none for long. */
  answers(key: string | number, now: number): boolean {
    const l = this.lanes.get(key);
    return l !== undefined && this.answering(l, now);
  }

  /** A turn now if one is free (none waiting before it), else null: nothing queued. */
  tryTake(key: string | number): EndLaneTurn | null {
    const lane = this.lanes.get(key);
    // A key not kept has nothing in flight: its turn is free.
    if (!lane) return this.start(key, this.lane(key), Date.now());
    const now = Date.now();
    return lane.head === lane.waiting.length && this.mayStart(lane, now) ? this.start(key, lane, now) : null;
  }

  take(key: string | number): Promise<EndLaneTurn | null> {
    const lane = this.lane(key);
    const now = Date.now();
    // In order: a newcomer never overtakes a waiter.
    if (lane.head === lane.waiting.length && this.mayStart(lane, now)) return Promise.resolve(this.start(key, lane, now));
    if (this.oldestAge(lane, now) >= SLOW_MS) return Promise.resolve(null);
    return new Promise((resolve) => {
      lane.waiting.push({ resolve, until: now + MAX_WAIT_MS });
      lane.timer ??= setTimeout(() => this.expire(key, lane), MAX_WAIT_MS);
    });
  }

  private lane(key: string | number): Lane {
    let l = this.lanes.get(key);
    if (!l) this.lanes.set(key, (l = { running: new Map(), lastEndedAt: undefined, waiting: [], head: 0, timer: undefined }));
    return l;
  }

  private answering(l: Lane, now: number): boolean {
    return l.lastEndedAt !== undefined && now - l.lastEndedAt < SLOW_MS && this.oldestAge(l, now) < SLOW_MS;
  }

  private mayStart(l: Lane, now: number): boolean {
    const n = l.running.size;
    if (n < this.share) return true;
    if (n >= this.max) return false;
    // Past its share only while it answers.
    return this.answering(l, now);
  }

  private oldestAge(l: Lane, now: number): number {
    for (const startedAt of l.running.values()) return now - startedAt;
    return 0;
  }

  private start(key: string | number, l: Lane, now: number): EndLaneTurn {
    const id = ++this.seq;
    l.running.set(id, now);
    return (posted = true) => {
      if (!l.running.delete(id)) return;
      // Only a POST that ended within SLOW_MS is an answer: one that timed out (or answered late)
      // ended too, and counted so, a hanging origin's timeouts made it "answering" for SLOW_MS
      // each time, with the whole concurrency (and no tenant bound) open to it.
      const endedAt = Date.now();
      if (posted && endedAt - now < SLOW_MS) l.lastEndedAt = endedAt;
      this.drain(key, l);
    };
  }

  /** Passes freed turns to the waiters, first come first. */
  private drain(key: string | number, l: Lane) {
    const now = Date.now();
    while (l.head < l.waiting.length && this.mayStart(l, now)) l.waiting[l.head++]!.resolve(this.start(key, l, now));
    this.tidy(key, l);
  }

  /** Turns away the waiters whose wait is over; the timer follows the oldest one left. */
  private expire(key: string | number, l: Lane) {
    l.timer = undefined;
    const now = Date.now();
    while (l.head < l.waiting.length && l.waiting[l.head]!.until <= now) l.waiting[l.head++]!.resolve(null);
    this.tidy(key, l);
  }

  /**
   * Keeps the waiters' timer, and the lane while it is of use: with POSTs in flight or waiting,
   * or for SLOW_MS after its last POST ended. Dropped at once, an origin between two batches of
   * a burst came back as new, held to its share until one of its POSTs ended.
   */
  private tidy(key: string | number, l: Lane) {
    if (l.head === l.waiting.length) {
      l.waiting = [];
      l.head = 0;
      if (l.timer) clearTimeout(l.timer);
      l.timer = undefined;
      if (l.running.size > 0) return;
      const idleFor = l.lastEndedAt === undefined ? SLOW_MS : Date.now() - l.lastEndedAt;
      if (idleFor >= SLOW_MS) this.lanes.delete(key);
      // Looked at again once its last end is SLOW_MS old (the waiter timer's field: none wait now).
      else l.timer = setTimeout(() => this.expire(key, l), SLOW_MS - idleFor).unref();
    } else {
      if (l.head >= 1024) {
        l.waiting = l.waiting.slice(l.head);
        l.head = 0;
      }
      l.timer ??= setTimeout(() => this.expire(key, l), Math.max(0, l.waiting[l.head]!.until - Date.now()));
    }
  }
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
