import type { Deps } from '../deps.js';
import { stateFromRow, type LicenseState, type LicenseStateRow } from './license-lookup.js';

const RETURNING = `0 as i, l.id, l.license_key, l.status, l.hwids, l.activated_at, l.expires_at, l.duration_days,
  p.id as plan_id, p.name as plan_name, p.duration_days as plan_duration_days, p.max_hwids as plan_max_hwids`;

/**
 * Binds `hwid` (or, with the HWID lock off, just activates) in one conditional UPDATE. Postgres
 * re-checks the WHERE clause against the newest row version after waiting on a concurrent
 * writer, so of N simultaneous first activations exactly `maxHwids` can pass.
 * The expiry clock starts at the first activation.
 */
export async function activateLicense(
  deps: Deps,
  license: LicenseState,
  opts: { hwid: string | null; maxHwids: number; now: Date; ip: string | null },
): Promise<{ kind: 'activated'; license: LicenseState } | { kind: 'unchanged'; license: LicenseState | null }> {
  const now = opts.now.toISOString();
  const [row] = await deps.db.query<LicenseStateRow>(
    `update licenses l set
       hwids = case when $2::text is null then l.hwids else array_append(l.hwids, $2::text) end,
       status = 'active',
       activated_at = coalesce(l.activated_at, $4::timestamptz),
       expires_at = case when l.activated_at is null and l.duration_days > 0
                         then $4::timestamptz + make_interval(days => l.duration_days)
                         else l.expires_at end,
       last_used = $4::timestamptz, ip_address = $5, updated_at = $4::timestamptz
     from plans p
     where l.id = $1 and p.id = l.plan_id
       and l.status in ('inactive', 'active')
       and (l.expires_at is null or l.expires_at > $4::timestamptz)
       and ($2::text is null
            or (not ($2::text = any(l.hwids)) and cardinality(l.hwids) < $3))
       and ($2::text is not null or l.status = 'inactive')
     returning ${RETURNING}`,
    [license.id, opts.hwid, opts.maxHwids, now, opts.ip],
  );
  if (row) return { kind: 'activated', license: stateFromRow(row) };
  const [fresh] = await deps.db.query<LicenseStateRow>(
    `select ${RETURNING} from licenses l join plans p on p.id = l.plan_id where l.id = $1`,
    [license.id],
  );
  return { kind: 'unchanged', license: fresh ? stateFromRow(fresh) : null };
}
