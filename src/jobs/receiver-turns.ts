/**
 * Turns at each receiver origin (scheme, host, port) for a process's webhook POSTs, so that one
 * receiver that is slow or hangs cannot take the whole webhook concurrency. A POST hangs for up to
 * the webhook timeout; without this, a bulk ban whose receiver never answers held every slot of
 * the process for N × 10 s / concurrency, and every other seller's deliveries waited behind it.
 *
 * An origin has `share` POSTs in flight at most while it is slow; one that answers (a POST of it
 * ended within SLOW_MS and none in flight is older than that) may have up to `max`, so a fast
 * receiver's burst goes at the speed it did. A POST past the limit waits in its origin's own
 * queue, holding no slot of the process's limiter (callers take that after their turn), for
 * MAX_WAIT_MS at most — none at all once the origin is known slow — and is then turned away
 * (`null`): the caller leaves it to the retry schedule as an attempt not made. Origins are kept
 * only while they have POSTs in flight or waiting, or ended one within SLOW_MS.
 */

/** An origin whose oldest POST in flight is older than this (or that ended none as recently) is slow. */
const SLOW_MS = 1000;
/** How long a POST waits for its origin's turn before it is turned away. */
const MAX_WAIT_MS = 2000;
/** Never more than undici's connections per origin (receiver-pools.ts): past them it queues anyway. */
const MAX_PER_ORIGIN = 64;

/** Ends a turn; calling it again does nothing. */
export type EndTurn = () => void;
export type ReceiverTurn = (url: string) => Promise<EndTurn | null>;

interface Waiter {
  resolve: (end: EndTurn | null) => void;
  until: number;
}

interface Origin {
  /** Start times of the POSTs in flight, oldest first (a Map keeps insertion order). */
  running: Map<number, number>;
  lastEndedAt: number | undefined;
  // A queue read from `head`: a burst may put thousands here, and Array#shift is O(n).
  waiting: Waiter[];
  head: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The in-flight bound of a slow origin, and of one that answers, for a process of `concurrency`
 * POSTs. One that answers is never held back below what it had before turns: only slowness costs
 * an origin its slots. A receiver that starts to hang mid-burst thus holds what it has in flight
 * until those POSTs time out (10 s), and its share from then on.
 */
function receiverShares(concurrency: number): { share: number; max: number } {
  const share = Math.min(MAX_PER_ORIGIN, Math.max(4, Math.ceil(concurrency / 4)));
  return { share, max: Math.max(share, concurrency) };
}

const noTurnNeeded: EndTurn = () => {};

export class ReceiverTurns {
  private readonly origins = new Map<string, Origin>();
  private seq = 0;
  private readonly share: number;
  private readonly max: number;

  constructor(concurrency: number) {
    ({ share: this.share, max: this.max } = receiverShares(concurrency));
  }

  /** A turn at `url`'s origin (end it when the POST is over), or null: the origin is busy. */
  readonly take: ReceiverTurn = (url) => {
    const key = originOf(url);
    // Not a URL: the POST fails at once without connecting, so it needs no turn.
    if (key === null) return Promise.resolve(noTurnNeeded);
    let o = this.origins.get(key);
    if (!o) this.origins.set(key, (o = { running: new Map(), lastEndedAt: undefined, waiting: [], head: 0, timer: undefined }));
    const now = Date.now();
    // In order: a newcomer never overtakes a waiter.
    if (o.head === o.waiting.length && this.mayStart(o, now)) return Promise.resolve(this.start(key, o, now));
    if (this.oldestAge(o, now) >= SLOW_MS) return Promise.resolve(null);
    return new Promise((resolve) => {
      o.waiting.push({ resolve, until: now + MAX_WAIT_MS });
      o.timer ??= setTimeout(() => this.expire(key, o), MAX_WAIT_MS);
    });
  };

  private mayStart(o: Origin, now: number): boolean {
    const n = o.running.size;
    if (n < this.share) return true;
    if (n >= this.max) return false;
    // Past its share only while it answers: it ended a POST lately and holds none for long.
    return o.lastEndedAt !== undefined && now - o.lastEndedAt < SLOW_MS && this.oldestAge(o, now) < SLOW_MS;
  }

  private oldestAge(o: Origin, now: number): number {
    for (const startedAt of o.running.values()) return now - startedAt;
    return 0;
  }

  private start(key: string, o: Origin, now: number): EndTurn {
    const id = ++this.seq;
    o.running.set(id, now);
    return () => {
      if (!o.running.delete(id)) return;
      o.lastEndedAt = Date.now();
      this.drain(key, o);
    };
  }

  /** Passes freed turns to the waiters, first come first. */
  private drain(key: string, o: Origin) {
    const now = Date.now();
    while (o.head < o.waiting.length && this.mayStart(o, now)) o.waiting[o.head++]!.resolve(this.start(key, o, now));
    this.tidy(key, o);
  }

  /** Turns away the waiters whose wait is over; the timer follows the oldest one left. */
  private expire(key: string, o: Origin) {
    o.timer = undefined;
    const now = Date.now();
    while (o.head < o.waiting.length && o.waiting[o.head]!.until <= now) o.waiting[o.head++]!.resolve(null);
    this.tidy(key, o);
  }

  /**
   * Keeps the waiters' timer, and the origin while it is of use: with POSTs in flight or waiting,
   * or for SLOW_MS after its last POST ended. Dropped at once, an origin between two batches of
   * a burst came back as new, held to its share until one of its POSTs ended.
   */
  private tidy(key: string, o: Origin) {
    if (o.head === o.waiting.length) {
      o.waiting = [];
      o.head = 0;
      if (o.timer) clearTimeout(o.timer);
      o.timer = undefined;
      if (o.running.size > 0) return;
      const idleFor = o.lastEndedAt === undefined ? SLOW_MS : Date.now() - o.lastEndedAt;
      if (idleFor >= SLOW_MS) this.origins.delete(key);
      // Looked at again once its last end is SLOW_MS old (the waiter timer's field: none wait now).
      else o.timer = setTimeout(() => this.expire(key, o), SLOW_MS - idleFor).unref();
    } else {
      if (o.head >= 1024) {
        o.waiting = o.waiting.slice(o.head);
        o.head = 0;
      }
      o.timer ??= setTimeout(() => this.expire(key, o), Math.max(0, o.waiting[o.head]!.until - Date.now()));
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
