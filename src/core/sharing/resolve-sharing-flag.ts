import { and, eq } from 'drizzle-orm';
import { licenses, sharingFlags } from '../../db/schema.js';
import type { SellerActor } from '../actor.js';
import { requireOwnedBy } from '../applications/access.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { depsInTransaction } from '../users/transaction-deps.js';
import { conflict, notFound } from '../errors.js';
import { banLicense } from '../licenses/license-actions.js';
import { resetLicenseHwid } from '../licenses/reset-license-hwid.js';
import { SHARING_BAN_REASON } from './detect-sharing.js';
import { toSharingFlagView } from './sharing-flag-view.js';

export type SharingResolution = 'ban' | 'reset' | 'ignore';

const STATUS_AFTER = { ban: 'banned', reset: 'hwid_reset', ignore: 'ignored' } as const;

/**
 * A seller's answer to a sharing flag (the alert's buttons): ban the license (reason `sharing`) or
 * reset its HWID — the same use cases as `/license ban` and `/license reset-hwid`, with their
 * permission checks, audit entries and events — or ignore the flag (audited). The flag then
 * records what was done and by whom. A flag of another application is not found, as if it did not
 * exist; one already handled is a conflict.
 */
export async function resolveSharingFlag(deps: Deps, actor: SellerActor, flagId: number, resolution: SharingResolution) {
  const [found] = await deps.db.orm
    .select({ flag: sharingFlags, licenseKey: licenses.licenseKey })
    .from(sharingFlags)
    .innerJoin(licenses, eq(licenses.id, sharingFlags.licenseId))
    .where(eq(sharingFlags.id, flagId))
    .limit(1);
  if (!found || (actor.kind === 'discord' && actor.applicationId !== found.flag.applicationId)) throw notFound('Sharing alert');
  const { flag } = found;
  await requireOwnedBy(deps.db.orm, actor, flag.applicationId, 'manage', 'Sharing alert');
  if (flag.status !== 'open') throw conflict(`This alert was already handled (${flag.status.replace('_', ' ')}${flag.resolvedBy ? ` by ${flag.resolvedBy}` : ''}).`, 'ALREADY_HANDLED');
  const now = deps.clock.now();
  const updated = await deps.db.orm.transaction(async (tx) => {
    // The flag is claimed first, and the action commits with its mark or not at all: of a Ban and
    // an Ignore clicked at once, the one that claims the flag is the one done, and the license
    // ends as the flag says (the action committing on its own, a lost Ignore left a banned key
    // under an alert that read "ignored").
    const [row] = await tx
      .update(sharingFlags)
      .set({ status: STATUS_AFTER[resolution], resolvedBy: actor.name, resolvedAt: now })
      .where(and(eq(sharingFlags.id, flag.id), eq(sharingFlags.status, 'open')))
      .returning();
    if (!row) throw conflict('This alert was already handled.', 'ALREADY_HANDLED');
    const inTx = depsInTransaction(deps, tx);
    if (resolution === 'ban') await banLicense(inTx, actor, flag.licenseId, SHARING_BAN_REASON);
    if (resolution === 'reset') await resetLicenseHwid(inTx, actor, flag.licenseId);
    await writeAudit(tx, actor, {
      applicationId: flag.applicationId,
      action: `sharing.${STATUS_AFTER[resolution]}`,
      target: `license:${flag.licenseId}`,
      details: { license_key: found.licenseKey, flag_id: flag.id, window: flag.kind },
    });
    return row;
  });
  return toSharingFlagView(updated, found.licenseKey);
}
