-- Heartbeats arriving together are decided in one call (one round trip, one commit): each entry
-- through keycord_seat_heartbeat (0013), in (license, HWID) order so that concurrent batches from
-- several API processes take their row and advisory locks in the same order and cannot deadlock.
-- Within a batch, later entries see earlier grants (each statement of a plpgsql function reads
-- afresh under READ COMMITTED, and its own transaction's writes).
CREATE FUNCTION keycord_seat_heartbeats(p_license_ids integer[], p_hwids text[], p_maxes integer[], p_now timestamptz, p_ttls integer[])
RETURNS TABLE (i integer, granted boolean, seats_used integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT t.n, t.license_id, t.hwid, t.max, t.ttl
		FROM unnest(p_license_ids, p_hwids, p_maxes, p_ttls) WITH ORDINALITY AS t(license_id, hwid, max, ttl, n)
		ORDER BY t.license_id, t.hwid, t.n
	LOOP
		SELECT h.granted, h.seats_used INTO granted, seats_used FROM keycord_seat_heartbeat(r.license_id, r.hwid, r.max, p_now, r.ttl) h;
		i := r.n;
		RETURN NEXT;
	END LOOP;
END
$$;
