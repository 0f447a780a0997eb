import { settleWithin } from '../settle-within.js';
import type { Logger } from '../log.js';

/** Connection-level failures: the database is away, which is a 503 and not our bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: string }).code;
    if (
      code === 'ECONNREFUSED' ||
      code === 'CONNECTION_CLOSED' ||
      code === 'CONNECTION_ENDED' ||
      code === 'CONNECTION_DESTROYED' ||
      code === 'CONNECT_TIMEOUT' ||
      code === '57P01' || // admin shutdown
      code === '57P03' // cannot connect now (starting up, recovering)
    ) {
      return true;
    }
  }
  return false;
}

export interface AvailabilityOptions {
  /** How often a probe tries the database while it is known down. */
  probeEveryMs?: number;
  /** A probe that takes longer than this counts as failed. */
  probeTimeoutMs?: number;
}

/**
 * What this process knows of the database's reachability. Once a query fails because the
 * database is away, requests are answered 503 at once instead of each waiting on its own
 * connection attempt (the audit measured up to 17 s); a probe retries in the background and the
 * first answer it gets reopens the doors. Nothing is decided from a single slow query: only a
 * connection-level failure marks the database down.
 */
export class DatabaseAvailability {
  private downSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  private stopped = false;
  private readonly probeEveryMs: number;
  private readonly probeTimeoutMs: number;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly log: Logger,
    opts: AvailabilityOptions = {},
  ) {
    this.probeEveryMs = opts.probeEveryMs ?? 1000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
  }

  get isDown(): boolean {
    return this.downSince !== null;
  }

  /**
   * Called with any error a database call raised; only connection failures count, and only once
   * a probe confirms them — so nothing a client does (an aborted upload, a reset socket of its
   * own) can make this process refuse everyone.
   */
  reportError(err: unknown): Promise<void> {
    if (this.stopped || !isDatabaseUnavailable(err) || this.downSince !== null || this.probing) return Promise.resolve();
    return this.probeOnce().then((reachable) => {
      if (reachable || this.stopped || this.downSince !== null) return;
      this.downSince = Date.now();
      this.log.error({ code: (err as { code?: string }).code }, 'database unreachable: answering 503 until it is back');
      this.schedule();
    });
  }

  /** Something answered (a health check): the database is reachable. */
  reportReachable(): void {
    if (this.downSince === null) return;
    this.log.info({ downForMs: Date.now() - this.downSince }, 'database reachable again');
    this.downSince = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule() {
    if (this.stopped || this.timer || this.downSince === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tryProbe();
    }, this.probeEveryMs);
    // Probing must never keep a stopping process alive.
    this.timer.unref();
  }

  private async tryProbe() {
    if (await this.probeOnce()) this.reportReachable();
    this.schedule();
  }

  private async probeOnce(): Promise<boolean> {
    if (this.probing) return false;
    this.probing = true;
    try {
      return await settleWithin(
        this.probe().then(
          () => true,
          () => false,
        ),
        this.probeTimeoutMs,
        false,
      );
    } finally {
      this.probing = false;
    }
  }
}
