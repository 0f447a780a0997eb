-- Licenses and floating seats are rewritten all day by the usage flush (a license's last use and
-- address, a seat's last heartbeat), while their indexed columns stay as they are: the update a
-- heap-only tuple (HOT) can do, writing no index, if the row's page has room for its new version.
-- A page packed full (fillfactor 100, the default) has none, so the first update of each row on it
-- writes all of the table's indexes: ten for licenses, two of them trigram GIN. Measured in SQL,
-- 100,000 licenses, 100 batches of 1,000 random last-use updates: 65% HOT and 16–67 µs a row at
-- fillfactor 100 (the first passes the slowest), 98.6% HOT and 10–13 µs a row at 70; both tables
-- ended at the same size, since a packed table grows by its non-HOT versions anyway. Seats: 71%
-- against 100% HOT, 19–22 against 17–18 µs a renewal.
-- New rows are laid out this way from now on; rows already stored keep their pages until the table
-- is rewritten (VACUUM FULL or pg_repack, at an operator's choice: both lock or copy the table).
ALTER TABLE "licenses" SET (fillfactor = 70);
--> statement-breakpoint
ALTER TABLE "license_seats" SET (fillfactor = 70);
