import { eq } from 'drizzle-orm';
import { licenses, sharingFlags } from '../../db/schema.js';
import { isForeignKeyViolation } from '../../db/sql-state.js';
import { system } from '../actor.js';
import { writeAudit } from '../audit.js';
import type { Deps } from '../deps.js';
import { emitEvent, licenseEventData } from '../events/emit-event.js';
import { banChange } from '../licenses/license-actions.js';
import type { ValidationRecord } from '../licenses/usage-recorder.js';
import { sharingWindowOf, windowView, type SharingWindow, type SharingWindowKind } from './sharing-window.js';

/** Who bans a license for sharing, in the audit log and on the flag. */
const DETECTOR_NAME = 'sharing detection';
const SHARING_DETECTION = system(DETECTOR_NAME);
export const SHARING_BAN_REASON = 'sharing';

/**
 * The figures of each watched license in the windows its new log lines fall in, for those past a
 * threshold only: distinct client IPs in the UTC day, HWID_MISMATCH validations in the clock hour
 * (each log line carries its count), and whether that window is already flagged. The threshold and
 * action are the plan's `sharing` if it has one, else the application's. One statement, run after a
 * usage flush (never on the request path); the partial index on validation_logs (license_id,
 * created_at) makes each count a range scan of that license's lines.
 */
const MEASURE_SQL = `with batch as (
  select distinct b.license_id, b.day_start::timestamptz as day_start, b.hour_start::timestamptz as hour_start
  from unnest($1::int[], $2::text[], $3::text[]) as b(license_id, day_start, hour_start)
), watched as (
  select b.license_id, b.day_start, b.hour_start, l.application_id,
    (x.s->>'max_ips_per_24h')::int as max_ips, (x.s->>'max_hwid_mismatches_per_1h')::int as max_mismatches,
    coalesce(x.s->>'action', 'alert') as action
  from batch b
  join licenses l on l.id = b.license_id
  join plans p on p.id = l.plan_id
  join applications a on a.id = l.application_id
  cross join lateral (select coalesce(p.sharing, a.settings->'sharing') as s) x
  where l.status <> 'banned'
)
select w.license_id, w.application_id, w.day_start, w.hour_start, w.max_ips, w.max_mismatches, w.action, ips.n as ips, mm.n as hwid_mismatches,
  exists (select 1 from sharing_flags f where f.license_id = w.license_id and f.kind = 'ips_24h' and f.window_start = w.day_start) as ips_flagged,
  exists (select 1 from sharing_flags f where f.license_id = w.license_id and f.kind = 'hwid_mismatches_1h' and f.window_start = w.hour_start) as mismatches_flagged
from watched w
cross join lateral (
  select count(distinct v.ip)::int as n from validation_logs v
  where v.license_id = w.license_id and v.ip is not null and v.created_at >= w.day_start and v.created_at < w.day_start + interval '1 day'
) ips
cross join lateral (
  select coalesce(sum(v.count), 0)::int as n from validation_logs v
  where v.license_id = w.license_id and v.code = 'HWID_MISMATCH' and v.created_at >= w.hour_start and v.created_at < w.hour_start + interval '1 hour'
) mm
where (w.max_ips is not null and ips.n > w.max_ips) or (w.max_mismatches is not null and mm.n > w.max_mismatches)`;

interface Measured {
  license_id: number;
  application_id: number;
  day_start: Date | string;
  hour_start: Date | string;
  max_ips: number | null;
  max_mismatches: number | null;
  action: string;
  ips: number;
  hwid_mismatches: number;
  ips_flagged: boolean;
  mismatches_flagged: boolean;
}

/** A license past a threshold in one window: what the flag, the event and the alert say. */
interface SharingSuspicion {
  applicationId: number;
  licenseId: number;
  window: SharingWindow;
  ips: number;
  hwidMismatches: number;
  action: 'alert' | 'ban';
}

/**
 * Key-sharing detection, after a usage flush, over the lines it wrote for the licenses it watches:
 * each license past a threshold in a window not yet flagged is flagged (see `flagSharing`).
 * Answers how many flags this call made.
 */
export async function detectSharing(deps: Deps, records: readonly ValidationRecord[]): Promise<number> {
  const keys = new Map<string, [number, string, string]>();
  for (const r of records) {
    if (r.licenseId === null) continue;
    const day = sharingWindowOf('ips_24h', r.at).start.toISOString();
    const hour = sharingWindowOf('hwid_mismatches_1h', r.at).start.toISOString();
    keys.set(`${r.licenseId}|${hour}`, [r.licenseId, day, hour]);
  }
  if (keys.size === 0) return 0;
  const batch = [...keys.values()];
  const rows = await deps.db.query<Measured>(MEASURE_SQL, [batch.map((k) => k[0]), batch.map((k) => k[1]), batch.map((k) => k[2])]);
  let flagged = 0;
  for (const row of rows) {
    const crossed: [SharingWindowKind, Date | string][] = [];
    if (row.max_ips !== null && row.ips > row.max_ips && !row.ips_flagged) crossed.push(['ips_24h', row.day_start]);
    if (row.max_mismatches !== null && row.hwid_mismatches > row.max_mismatches && !row.mismatches_flagged) crossed.push(['hwid_mismatches_1h', row.hour_start]);
    for (const [kind, start] of crossed) {
      const suspicion: SharingSuspicion = {
        applicationId: row.application_id,
        licenseId: row.license_id,
        window: sharingWindowOf(kind, new Date(start)),
        ips: row.ips,
        hwidMismatches: row.hwid_mismatches,
        action: row.action === 'ban' ? 'ban' : 'alert',
      };
      try {
        if (await flagSharing(deps, suspicion)) flagged++;
      } catch (err) {
        // Its license was deleted after the validations were counted: nothing left to flag, and the
        // suspicions after it in this batch still are.
        if (isForeignKeyViolation(err)) continue;
        throw err;
      }
    }
  }
  return flagged;
}

/**
 * Flags a license once per window: the flag row (its unique key is license, kind and window
 * start, so concurrent flushes in several processes flag it once), the event
 * `license.sharing_suspected` and, with `action: "ban"`, the ban (reason `sharing`, audited as the
 * system, with its `license.banned` event) — one transaction. False when the window was flagged already.
 */
async function flagSharing(deps: Deps, s: SharingSuspicion): Promise<boolean> {
  const now = deps.clock.now();
  const ban = s.action === 'ban';
  return deps.db.orm.transaction(async (tx) => {
    const [flag] = await tx
      .insert(sharingFlags)
      .values({
        applicationId: s.applicationId,
        licenseId: s.licenseId,
        kind: s.window.kind,
        windowStart: s.window.start,
        windowEnd: s.window.end,
        ips: s.ips,
        hwidMismatches: s.hwidMismatches,
        action: s.action,
        status: ban ? 'banned' : 'open',
        resolvedBy: ban ? DETECTOR_NAME : null,
        resolvedAt: ban ? now : null,
        createdAt: now,
      })
      .onConflictDoNothing()
      .returning({ id: sharingFlags.id });
    if (!flag) return false;
    const [license] = await tx.select().from(licenses).where(eq(licenses.id, s.licenseId)).for('update');
    if (!license) throw new Error(`license ${s.licenseId} vanished under its own sharing flag`);
    let current = license;
    const figures = { window: windowView(s.window), ips: s.ips, hwid_mismatches: s.hwidMismatches };
    if (ban && license.status !== 'banned') {
      const change = banChange(SHARING_BAN_REASON);
      const [banned] = await tx
        .update(licenses)
        .set({ ...change.apply(license, now), updatedAt: now })
        .where(eq(licenses.id, license.id))
        .returning();
      current = banned!;
      await writeAudit(tx, SHARING_DETECTION, {
        applicationId: license.applicationId,
        action: change.action,
        target: `license:${license.id}`,
        details: { license_key: license.licenseKey, ...change.details, ...figures },
      });
    }
    await emitEvent(tx, s.applicationId, 'license.sharing_suspected', { ...licenseEventData(current), ...figures, action: s.action, flag_id: flag.id });
    if (current !== license) await emitEvent(tx, s.applicationId, 'license.banned', licenseEventData(current));
    return true;
  });
}
