--
-- demo/sample_data.sql builds the demo's data through the domain functions,
-- the same way every time.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\getenv abs_srcdir PG_ABS_SRCDIR
\set sample_data :abs_srcdir '/demo/sample_data.sql'
\set ECHO none
\i :sample_data
\set ECHO all
SELECT u.name, u.role, u.logging_opt_out, coalesce(t.points, 0) AS points,
	   (SELECT string_agg(b.slug, ', ' ORDER BY b.id) FROM osv.awards a JOIN osv.badges b ON b.id = a.badge_id WHERE a.user_id = u.id) AS badges
FROM osv.users u LEFT JOIN osv.point_totals t ON t.user_id = u.id ORDER BY u.id;
SELECT d.type, count(*) FROM osv.documents d GROUP BY d.type ORDER BY d.type;
SELECT q.title, count(a.*) AS attempts, count(*) FILTER (WHERE a.passed) AS passes, count(*) FILTER (WHERE a.rewarded) AS rewarded
FROM osv.quizzes q JOIN osv.answers a ON a.quiz_id = q.id GROUP BY q.id, q.title ORDER BY q.id;
SELECT r.name, count(*) AS participations, count(*) FILTER (WHERE p.left_at IS NULL) AS present
FROM osv.rooms r JOIN osv.room_participations p ON p.room_id = r.id GROUP BY r.id, r.name ORDER BY r.id;
SELECT event_type, count(*) FROM osv.activity_logs GROUP BY event_type ORDER BY event_type;
-- the totals equal the ledger
SELECT bool_and(t.points = (SELECT sum(p.amount) FROM osv.points p WHERE p.user_id = t.user_id)) AS totals_exact FROM osv.point_totals t;
