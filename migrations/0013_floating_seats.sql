CREATE TABLE "license_seats" (
	"license_id" integer NOT NULL,
	"hwid" text NOT NULL,
	"last_heartbeat_at" timestamp with time zone NOT NULL,
	CONSTRAINT "license_seats_license_id_hwid_pk" PRIMARY KEY("license_id","hwid")
);
--> statement-breakpoint
ALTER TABLE "license_seats" ADD CONSTRAINT "license_seats_license_id_licenses_id_fk" FOREIGN KEY ("license_id") REFERENCES "public"."licenses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_concurrent" integer;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "heartbeat_interval_s" integer;--> statement-breakpoint
-- One heartbeat's seat decision, called as one statement (one round trip).
-- A machine that holds a live seat only renews it: no lock, renewals never change the count.
-- Taking a seat goes under an advisory lock on the license (class 0x6b637374, "kcst"): lapsed
-- seats are dropped, the live ones counted, and a seat is inserted only while count < max. A
-- function because one SQL statement cannot wait for a lock and then count what the holder wrote
-- (in READ COMMITTED its snapshot is taken before the wait); a VOLATILE function's statements each
-- take a fresh snapshot, so concurrent heartbeats of one license are granted one at a time.
-- synchronous_commit off for this transaction only: a crash may forget the last fraction of a
-- second of renewals (a seat looks a little older, or a grant is forgotten and taken again on the
-- next heartbeat), never corrupt or over-grant; it spares each heartbeat a WAL flush.
CREATE FUNCTION keycord_seat_heartbeat(p_license_id integer, p_hwid text, p_max integer, p_now timestamptz, p_ttl_s integer)
RETURNS TABLE (granted boolean, seats_used integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_cutoff timestamptz := p_now - make_interval(secs => p_ttl_s);
	v_held boolean;
	v_used integer;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	UPDATE license_seats s SET last_heartbeat_at = greatest(s.last_heartbeat_at, p_now)
		WHERE s.license_id = p_license_id AND s.hwid = p_hwid AND s.last_heartbeat_at > v_cutoff;
	v_held := FOUND;
	IF NOT v_held THEN
		PERFORM pg_advisory_xact_lock(1801679732, p_license_id);
		DELETE FROM license_seats s WHERE s.license_id = p_license_id AND s.last_heartbeat_at <= v_cutoff;
		SELECT count(*)::integer INTO v_used FROM license_seats s WHERE s.license_id = p_license_id;
		IF v_used < p_max THEN
			-- The same machine may have taken its seat meanwhile (two heartbeats at once): one row either way.
			INSERT INTO license_seats (license_id, hwid, last_heartbeat_at) VALUES (p_license_id, p_hwid, p_now)
				ON CONFLICT (license_id, hwid) DO UPDATE SET last_heartbeat_at = greatest(license_seats.last_heartbeat_at, excluded.last_heartbeat_at);
			v_held := true;
		ELSE
			v_held := EXISTS (SELECT 1 FROM license_seats s WHERE s.license_id = p_license_id AND s.hwid = p_hwid);
		END IF;
	END IF;
	SELECT count(*)::integer INTO v_used FROM license_seats s WHERE s.license_id = p_license_id AND s.last_heartbeat_at > v_cutoff;
	RETURN QUERY SELECT v_held, v_used;
END
$$;
