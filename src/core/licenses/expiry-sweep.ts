import { setImmediate } from 'node:timers/promises';
import { and, asc, eq, gt, inArray, lte, sql } from 'drizzle-orm';
import { licenseNotices, licenses } from '../../db/schema.js';
import type { Tx } from '../../db/client.js';
import { system } from '../actor.js';
import { writeAudits } from '../audit.js';
import type { Deps } from '../deps.js';
import { emitEvents, licenseEventData } from '../events/emit-event.js';
import { EXPIRING_STATUSES } from './license-view.js';

export interface SweepResult {
  expired: number;
  expiringSoon: number;
}

const DAY = 86_400_000;
const sweeper = system('expiry-sweep');

type LicenseRow = typeof licenses.$inferSelect;

/**
 * Marks licenses past `expires_at` (active, or inactive after a reset) as expired and emits `license.expired`, and emits
 * `license.expiring_soon` when a license enters one of the notice windows (e.g. 3 days, 1 day).
 * Each notice is a row keyed (license, kind, expires_at) written in the same transaction as its
 * outbox event: however many sweeps overlap or crash, each is sent exactly once per license and
 * window (an extended license gets new notices for its new date). Rows are claimed with
 * SKIP LOCKED, so several workers share a sweep instead of queueing behind each other.
 */
export async function expirySweep(deps: Deps, opts: { noticeDays: number[]; batchSize?: number }): Promise<SweepResult> {
  const now = deps.clock.now();
  const batchSize = opts.batchSize ?? 1000;
  const result: SweepResult = { expired: 0, expiringSoon: 0 };

  result.expired = await inBatches(deps, async (tx) => {
    const due = await tx
      .select()
      .from(licenses)
      .where(
        and(
          // Every status the one expiry rule applies to (license-view.ts), and expired rows
          // marked by validation before the sweep got to them (their notice is still owed).
          inArray(licenses.status, [...EXPIRING_STATUSES, 'expired']),
          lte(licenses.expiresAt, now),
          noNotice('expired'),
        ),
      )
      .orderBy(asc(licenses.id))
      .limit(batchSize)
      .for('update', { of: licenses, skipLocked: true });
    if (due.length === 0) return [];
    await tx
      .update(licenses)
      .set({ status: 'expired', updatedAt: now })
      .where(
        and(
          inArray(
            licenses.id,
            due.map((l) => l.id),
          ),
          inArray(licenses.status, [...EXPIRING_STATUSES]),
        ),
      );
    await notify(
      tx,
      due.map((l) => ({ ...l, status: 'expired' as const })),
      'expired',
      'license.expired',
      () => ({}),
    );
    return due.map((l) => l.id);
  });

  // Smallest window first: a license is noticed for the tightest window it is in.
  const windows = [...opts.noticeDays].sort((a, b) => a - b);
  for (let i = 0; i < windows.length; i++) {
    const days = windows[i]!;
    const lower = new Date(now.getTime() + (i === 0 ? 0 : windows[i - 1]! * DAY));
    const upper = new Date(now.getTime() + days * DAY);
    const kind = `expiring_${days}d`;
    result.expiringSoon += await inBatches(deps, async (tx) => {
      const due = await tx
        .select()
        .from(licenses)
        .where(and(eq(licenses.status, 'active'), gt(licenses.expiresAt, lower), lte(licenses.expiresAt, upper), noNotice(kind)))
        .orderBy(asc(licenses.id))
        .limit(batchSize)
        .for('update', { of: licenses, skipLocked: true });
      if (due.length === 0) return [];
      await notify(tx, due, kind, 'license.expiring_soon', (l) => ({
        days,
        remaining_seconds: Math.max(0, Math.floor((l.expiresAt!.getTime() - now.getTime()) / 1000)),
      }));
      return due.map((l) => l.id);
    });
  }
  return result;
}

/**
 * No notice of this kind for the license's current date yet. Notices hold the date as JavaScript
 * read it (milliseconds); another tool may have written `expires_at` with microseconds, so the
 * comparison is at millisecond precision — else such a license is never seen as noticed.
 */
const noNotice = (kind: string) =>
  sql`not exists (select 1 from ${licenseNotices} n where n.license_id = ${licenses.id} and n.kind = ${kind} and n.expires_at = date_trunc('milliseconds', ${licenses.expiresAt}))`;

/**
 * Claims the notice rows; only licenses whose row is new get an event (and an audit line), written
 * a statement per application and kind rather than one per license: a batch of 1,000 was 2,000
 * statements, 15 times the cost per license of generating one.
 */
async function notify(tx: Tx, due: LicenseRow[], kind: string, type: 'license.expired' | 'license.expiring_soon', extra: (l: LicenseRow) => Record<string, unknown>) {
  const claimed = await tx
    .insert(licenseNotices)
    .values(due.map((l) => ({ licenseId: l.id, kind, expiresAt: l.expiresAt! })))
    .onConflictDoNothing()
    .returning({ licenseId: licenseNotices.licenseId });
  const fresh = new Set(claimed.map((c) => c.licenseId));
  const byApplication = new Map<number, LicenseRow[]>();
  for (const l of due) {
    if (!fresh.has(l.id)) continue;
    const ofApplication = byApplication.get(l.applicationId);
    if (ofApplication) ofApplication.push(l);
    else byApplication.set(l.applicationId, [l]);
  }
  for (const [applicationId, noticed] of byApplication) {
    await emitEvents(
      tx,
      applicationId,
      noticed.map((l) => ({ type, data: { ...licenseEventData(l), ...extra(l) } })),
    );
  }
  if (type === 'license.expired') {
    const noticed = due.filter((l) => fresh.has(l.id));
    await writeAudits(
      tx,
      sweeper,
      noticed.map((l) => ({ applicationId: l.applicationId, action: 'license.expired', target: `license:${l.id}`, details: { license_key: l.licenseKey } })),
    );
  }
}

/**
 * Runs batches until one finds nothing. A sweep must always end: should a batch select rows it
 * cannot settle (the same ids as the batch before), it stops rather than spin on them. Between
 * batches the process takes its other work: on the embedded database a statement completes without
 * giving it a turn, so a backlog of 5,000 once held every request for 6 s (an audit).
 */
async function inBatches(deps: Deps, batch: (tx: Tx) => Promise<number[]>): Promise<number> {
  let total = 0;
  let previous = '';
  for (;;) {
    if (total > 0) await setImmediate();
    const ids = await deps.db.orm.transaction(batch);
    const key = ids.join(',');
    if (ids.length === 0) return total;
    if (key === previous) {
      deps.log.error({ licenses: ids.slice(0, 10) }, 'expiry sweep: the same licenses came back unsettled; stopping this sweep');
      return total;
    }
    previous = key;
    total += ids.length;
  }
}
