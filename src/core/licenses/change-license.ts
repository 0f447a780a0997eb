import type { Actor, SellerActor } from '../actor.js';
import type { Deps } from '../deps.js';
import { conflict } from '../errors.js';
import { licenseEventData, type EventType } from '../events/emit-event.js';
import { toLicenseView } from './license-view.js';
import { writeLicenseChange, type LicenseWrite } from './license-writes.js';
import { requireLicense, type LicenseRow, type SellerLicense } from './require-license.js';

/** The columns a seller action may set; `writeLicenseChange` stores exactly these. */
type ChangeableColumns = Pick<LicenseRow, 'status' | 'banReason' | 'notes' | 'durationDays' | 'expiresAt' | 'hwids' | 'lastHwidResetAt'>;

export interface LicenseChange {
  action: string;
  details?: Record<string, unknown>;
  /** The columns to set, decided from the current row; may throw to refuse. */
  apply(current: LicenseRow, now: Date): Partial<ChangeableColumns>;
  /** The outbox event this change emits, written with the change. */
  event?: EventType;
}

/**
 * A change decided on one read is retried on a fresh read when a concurrent write got to the
 * license first (a validation touching it, another seller action); each retry sees the newer row.
 * Every lost race means another write landed, so attempts run out only under a flood of writes
 * to one license — far more than the dozens of simultaneous changes the tests make.
 */
const MAX_ATTEMPTS = 100;

/**
 * Runs `write` on a fresh read of the license until it lands on the version it read. Shared by
 * every seller write to one license, so "decide on the current row" holds as it did under a lock.
 */
export async function withCurrentLicense<T>(deps: Deps, actor: SellerActor, licenseId: number, write: (current: SellerLicense) => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const done = await write(await requireLicense(deps.db, actor, licenseId, 'manage'));
    if (done !== undefined) return done;
  }
  throw conflict('The license kept changing while this change was being made; try again');
}

/**
 * The shared shape of every seller change to one license: read it with the seller's role, decide
 * the new columns, then update, audit and emit the event in one statement — and answer the new
 * license view.
 */
export function changeLicense(deps: Deps, actor: SellerActor, licenseId: number, change: LicenseChange) {
  return withCurrentLicense(deps, actor, licenseId, async ({ license, plan, version }) => {
    const now = deps.clock.now();
    const updated: LicenseRow = { ...license, ...change.apply(license, now), updatedAt: now };
    const written = await writeLicenseChange(deps.db, version, updated, licenseChangeWrite(actor, license, updated, change));
    return written ? toLicenseView(updated, plan, now) : undefined;
  });
}

/** The audit entry and the event a change of one license leaves (the bulk actions write the same). */
export function licenseChangeWrite(actor: Actor, before: LicenseRow, after: LicenseRow, change: LicenseChange): LicenseWrite {
  return {
    actor,
    audit: {
      applicationId: before.applicationId,
      action: change.action,
      target: `license:${before.id}`,
      details: { license_key: before.licenseKey, ...change.details },
    },
    ...(change.event ? { event: { type: change.event, data: licenseEventData(after) } } : {}),
  };
}
