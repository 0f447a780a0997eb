-- When a machine took its seat, so that a license with more live seats than its maximum (the plan's
-- or application's max_concurrent lowered, the license moved to a plan with fewer seats) gives the
-- newest ones up first. Seats held before this migration share its time; the HWID orders them.
ALTER TABLE "license_seats" ADD COLUMN "granted_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
-- As in 0013, with two changes.
-- The license's advisory lock is taken first, by a renewal too: a renewal used to take its seat's
-- row lock alone while a grant took the advisory lock and then row locks (dropping lapsed seats),
-- so two batches of one license whose times differ a little (one sees a seat live, the other
-- lapsed) could each wait for the other. Every seat statement of a license now waits for its
-- advisory lock before touching any of its rows.
-- A renewal is checked against p_max: while the license has more live seats than p_max, a seat
-- with p_max live seats granted before it (grant time, then HWID) is released and refused. The
-- oldest p_max keep running; the others are refused from their next heartbeat on.
CREATE OR REPLACE FUNCTION keycord_seat_heartbeat(p_license_id integer, p_hwid text, p_max integer, p_now timestamptz, p_ttl_s integer)
RETURNS TABLE (granted boolean, seats_used integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_cutoff timestamptz := p_now - make_interval(secs => p_ttl_s);
	v_granted_at timestamptz;
	v_held boolean;
	v_used integer;
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM pg_advisory_xact_lock(1801679732, p_license_id);
	UPDATE license_seats s SET last_heartbeat_at = greatest(s.last_heartbeat_at, p_now)
		WHERE s.license_id = p_license_id AND s.hwid = p_hwid AND s.last_heartbeat_at > v_cutoff
		RETURNING s.granted_at INTO v_granted_at;
	v_held := FOUND;
	IF v_held THEN
		SELECT count(*)::integer INTO v_used FROM license_seats s WHERE s.license_id = p_license_id AND s.last_heartbeat_at > v_cutoff;
		IF v_used > p_max AND (SELECT count(*) FROM license_seats s WHERE s.license_id = p_license_id AND s.last_heartbeat_at > v_cutoff
				AND (s.granted_at, s.hwid) < (v_granted_at, p_hwid)) >= p_max THEN
			DELETE FROM license_seats s WHERE s.license_id = p_license_id AND s.hwid = p_hwid;
			v_held := false;
			v_used := v_used - 1;
		END IF;
		RETURN QUERY SELECT v_held, v_used;
		RETURN;
	END IF;
	DELETE FROM license_seats s WHERE s.license_id = p_license_id AND s.last_heartbeat_at <= v_cutoff;
	SELECT count(*)::integer INTO v_used FROM license_seats s WHERE s.license_id = p_license_id;
	IF v_used < p_max THEN
		-- No live seat of this machine can appear meanwhile (the advisory lock is held): one row either way.
		INSERT INTO license_seats (license_id, hwid, last_heartbeat_at, granted_at) VALUES (p_license_id, p_hwid, p_now, p_now)
			ON CONFLICT (license_id, hwid) DO UPDATE SET last_heartbeat_at = greatest(license_seats.last_heartbeat_at, excluded.last_heartbeat_at);
		v_held := true;
		v_used := v_used + 1;
	END IF;
	RETURN QUERY SELECT v_held, v_used;
END
$$;
