-- A validation log line no longer has a foreign key to its application. The key's check was a
-- trigger per inserted line: 7.5 µs of the 19 µs a line cost to insert (200,000 lines in batches
-- of 1,000: 19.3 µs each with it, 12.2 without), and the usage flush inserts one line per distinct
-- validation. The flush now takes the lock that check took (FOR KEY SHARE) once per application
-- of its batch, and only inserts lines of applications it locked; deleting an application deletes
-- its lines in the same transaction (the trigger below, so that every way of deleting one does).
-- Either order is safe: a flush that locked first makes the deletion wait for it, and the
-- deletion's trigger then sees the flush's lines; a deletion first makes the flush wait, and the
-- deleted application is then not locked, so its lines are not written.
ALTER TABLE "validation_logs" DROP CONSTRAINT "validation_logs_application_id_applications_id_fk";
--> statement-breakpoint
CREATE FUNCTION keycord_delete_validation_logs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM validation_logs WHERE application_id = OLD.id;
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "applications_delete_validation_logs" AFTER DELETE ON "applications"
FOR EACH ROW EXECUTE FUNCTION keycord_delete_validation_logs();
--> statement-breakpoint
-- As in 0017, but the applications of the batch's log lines and counters are locked once each (see
-- above), and only their lines and counters are written: a line or counter of an application
-- deleted meanwhile used to fail its whole batch on the foreign key, flush after flush. The insert
-- reads the lock's rows, so the locks are taken first, before any license row: the order a
-- deletion takes them in (the application, then its licenses by cascade).
CREATE OR REPLACE FUNCTION keycord_usage_flush(
	p_license_ids integer[], p_used_at text[], p_used_ips text[],
	p_counter_apps integer[], p_counter_days text[], p_validations integer[], p_failures integer[],
	p_log_apps integer[], p_log_licenses integer[], p_log_codes text[], p_log_hwids text[], p_log_ips text[], p_log_at text[], p_log_counts integer[],
	p_seat_licenses integer[], p_seat_hwids text[], p_seat_at text[])
RETURNS void
LANGUAGE sql VOLATILE
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
with locked as materialized (
  select id from applications where id = any(p_log_apps || p_counter_apps) for key share
), used as (
  update licenses l set last_used = u.at::timestamptz, ip_address = u.ip
  from unnest(p_license_ids, p_used_at, p_used_ips) as u(id, at, ip)
  where l.id = u.id and (l.last_used is null or l.last_used < u.at::timestamptz)
), counted as (
  insert into daily_counters (application_id, day, validations, failures)
  select a, d::date, v, f from unnest(p_counter_apps, p_counter_days, p_validations, p_failures) as c(a, d, v, f)
  where c.a in (select id from locked)
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
where r.a in (select id from locked)
$$;
