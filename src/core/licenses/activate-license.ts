import type { Deps } from '../deps.js';
import { licenseStateColumns, stateFromRow, type LicenseState, type LicenseStateRow } from './license-lookup.js';

const RETURNING = licenseStateColumns('0');

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
  // `old` locks the row first, so `first_activation` is judged on the newest version; the
  // license.activated event is written by the same statement, hence in the same transaction.
  const [row] = await deps.db.query<LicenseStateRow>(
    `with old as (select id, activated_at from licenses where id = $1 for update),
     upd as (update licenses l set
       hwids = case when $2::text is null then l.hwids else array_append(l.hwids, $2::text) end,
       status = 'active',
       activated_at = coalesce(l.activated_at, $4::timestamptz),
       expires_at = case when l.activated_at is null and l.duration_days > 0
                         then $4::timestamptz + make_interval(days => l.duration_days)
                         else l.expires_at end,
       last_used = $4::timestamptz, ip_address = $5, updated_at = $4::timestamptz
     from plans p, old
     where l.id = old.id and p.id = l.plan_id
       and l.status in ('inactive', 'active')
       and (l.expires_at is null or l.expires_at > $4::timestamptz)
       and ($2::text is null
            or (not ($2::text = any(l.hwids)) and cardinality(l.hwids) < $3))
       and ($2::text is not null or l.status = 'inactive')
     returning ${RETURNING}, l.application_id, l.discord_user_id, (old.activated_at is null) as first_activation),
     evt as (insert into outbox (application_id, kind, type, payload)
       select application_id, 'event', 'license.activated', jsonb_build_object('license', jsonb_build_object(
         'id', id, 'license_key', license_key, 'status', status, 'plan_id', plan_id,
         'activated_at', activated_at, 'expires_at', expires_at, 'discord_user_id', discord_user_id), 'hwid', $2::text)
       from upd where first_activation)
     select * from upd`,
    [license.id, opts.hwid, opts.maxHwids, now, opts.ip],
  );
  if (row) return { kind: 'activated', license: stateFromRow(row) };
  const [fresh] = await deps.db.query<LicenseStateRow>(`select ${RETURNING} from licenses l join plans p on p.id = l.plan_id where l.id = $1`, [license.id]);
  return { kind: 'unchanged', license: fresh ? stateFromRow(fresh) : null };
}
