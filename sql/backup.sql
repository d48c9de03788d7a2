--
-- Restores: osv.restoring() and the triggers that skip restored rows
--
-- osv.restoring() is true only inside a COPY, by a superuser, in a session
-- with row_security = off: how pg_dump's scripts and pg_restore load data.
CREATE TABLE restoring_probe (n int, restoring boolean);
CREATE FUNCTION restoring_probe_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.restoring := osv.restoring();
	RETURN NEW;
END $$;
CREATE TRIGGER fill BEFORE INSERT ON restoring_probe FOR EACH ROW EXECUTE FUNCTION restoring_probe_fill();
SELECT osv.restoring() AS in_select;
SET row_security = off;
COPY restoring_probe (n) FROM stdin;
1
\.
INSERT INTO restoring_probe (n) VALUES (2);
RESET row_security;
COPY restoring_probe (n) FROM stdin;
3
\.
-- another role copying with row_security = off is no restore
CREATE ROLE osv_backup_probe;
GRANT INSERT ON restoring_probe TO osv_backup_probe;
GRANT USAGE ON SCHEMA osv TO osv_backup_probe;
SET ROLE osv_backup_probe;
SET row_security = off;
COPY restoring_probe (n) FROM stdin;
4
\.
RESET row_security;
RESET ROLE;
SELECT n, restoring FROM restoring_probe ORDER BY n;

-- A restored ledger row comes with its total: the trigger that adds to the
-- total skips it, and so do the badge triggers and the soft-delete guard.
SET row_security = off;
COPY osv.users (id, auth0_id, email, name) FROM stdin;
900001	auth0|restored	restored@example.org	Restored
\.
COPY osv.points (user_id, amount, reason) FROM stdin;
900001	5	restored entry
\.
RESET row_security;
\set uid 900001
SELECT (SELECT count(*) FROM osv.points WHERE user_id = :uid) AS ledger_rows,
	   (SELECT count(*) FROM osv.point_totals WHERE user_id = :uid) AS total_rows;
-- an ordinary insert adds to the total as always
SELECT osv.award_points(:uid, 1, 'live entry') IS NOT NULL AS awarded;
SELECT points FROM osv.point_totals WHERE user_id = :uid;

DROP TABLE restoring_probe;
DROP FUNCTION restoring_probe_fill();
REVOKE USAGE ON SCHEMA osv FROM osv_backup_probe;
DROP ROLE osv_backup_probe;
DELETE FROM osv.users WHERE id = :uid;
