import { idIn } from '../../db/id-in.js';
import { licenses } from '../../db/schema.js';
import type { Executor } from '../../db/client.js';
import type { Actor } from '../actor.js';
import { writeAudits } from '../audit.js';
import { emitEvents } from '../events/emit-event.js';
import { licenseChangeWrite, type LicenseChange } from './change-license.js';
import type { LicenseWrite } from './license-writes.js';
import type { LicenseRow } from './require-license.js';

/** The audit entries and events of many license writes of one application, one statement each. */
export async function recordLicenseWrites(tx: Executor, actor: Actor, applicationId: number, writes: LicenseWrite[]): Promise<void> {
  await writeAudits(
    tx,
    actor,
    writes.map((w) => w.audit),
  );
  await emitEvents(
    tx,
    applicationId,
    writes.flatMap((w) => (w.event ? [w.event] : [])),
  );
}

/**
 * One change (a ban, …) to many license rows the caller holds locked, as the single-license
 * action makes it — the same columns, audit entry and event per license — in few statements: rows
 * whose change sets the same columns are updated together (a ban: all of them in one).
 */
export async function changeLicenses(tx: Executor, actor: Actor, applicationId: number, rows: LicenseRow[], change: LicenseChange, now: Date): Promise<LicenseWrite[]> {
  type Group = { set: Partial<LicenseRow>; ids: number[] };
  const groups = new Map<string, Group>();
  const writes = rows.map((row) => {
    const set = change.apply(row, now);
    const key = JSON.stringify(set);
    const group: Group = groups.get(key) ?? { set, ids: [] };
    group.ids.push(row.id);
    groups.set(key, group);
    return licenseChangeWrite(actor, row, { ...row, ...set, updatedAt: now }, change);
  });
  for (const { set, ids } of groups.values())
    await tx
      .update(licenses)
      .set({ ...set, updatedAt: now })
      .where(idIn(licenses.id, ids));
  await recordLicenseWrites(tx, actor, applicationId, writes);
  return writes;
}
