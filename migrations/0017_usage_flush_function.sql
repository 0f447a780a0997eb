-- The usage flush (src/core/licenses/usage-recorder.ts) as one function, so that it can be planned
-- with hash and merge joins off. Each part joins its batch (up to 1,000 entries) to a table by that
-- table's key; left to itself the planner hashes a sequential scan of the table for a batch of
-- that size wherever the table is not much larger than the batch in its eyes: license_seats at
-- 100,000 seats took 36 ms per 1,000 renewals that way against 11 ms probing the primary key
-- (20,000 seats: 20 against 13 ms). Every join here has its key's index to probe.
-- One atomic statement, as before: data-modifying CTEs always run to completion.
CREATE FUNCTION keycord_usage_flush(
	p_license_ids integer[], p_used_at text[], p_used_ips text[],
	p_counter_apps integer[], p_counter_days text[], p_validations integer[], p_failures integer[],
	p_log_apps integer[], p_log_licenses integer[], p_log_codes text[], p_log_hwids text[], p_log_ips text[], p_log_at text[], p_log_counts integer[],
	p_seat_licenses integer[], p_seat_hwids text[], p_seat_at text[])
RETURNS void
LANGUAGE sql VOLATILE
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
with used as (
  update licenses l set last_used = u.at::timestamptz, ip_address = u.ip
  from unnest(p_license_ids, p_used_at, p_used_ips) as u(id, at, ip)
  where l.id = u.id and (l.last_used is null or l.last_used < u.at::timestamptz)
), counted as (
  insert into daily_counters (application_id, day, validations, failures)
  select a, d::date, v, f from unnest(p_counter_apps, p_counter_days, p_validations, p_failures) as c(a, d, v, f)
  on conflict (application_id, day) do update
    set validations = daily_counters.validations + excluded.validations,
        failures = daily_counters.failures + excluded.failures
), renewed as (
  update license_seats s set last_heartbeat_at = greatest(s.last_heartbeat_at, r.at::timestamptz)
  from unnest(p_seat_licenses, p_seat_hwids, p_seat_at) as r(id, hwid, at)
  where s.license_id = r.id and s.hwid = r.hwid
)
insert into validation_logs (application_id, license_id, code, hwid, ip, created_at, count)
select a, l, c, h, i, t::timestamptz, n
from unnest(p_log_apps, p_log_licenses, p_log_codes, p_log_hwids, p_log_ips, p_log_at, p_log_counts) as r(a, l, c, h, i, t, n)
$$;
