--
-- Laravel and Eloquent: explicit ids (seeders), osv.reset_identities(),
-- updated_at where Eloquent writes it, one SQLSTATE per condition.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse

-- A seeder writes explicit ids; every table an app writes accepts them.
INSERT INTO osv.users (id, auth0_id, email, name) VALUES (100, 'auth0|ada', 'ada@example.org', 'Ada'), (101, 'auth0|bob', 'bob@example.org', 'Bob');
INSERT INTO osv.documents (id, user_id, type, title, storage_bucket, storage_key) VALUES (200, 100, 'pdf', 'Algebra', 'osv-docs', 'k/1');
INSERT INTO osv.summaries (id, document_id, topic, content) VALUES (300, 200, 'math', 'linear equations');
INSERT INTO osv.recommendations (id, user_id, summary_id, score, expires_at) VALUES (400, 101, 300, 0.5, now() + interval '1 day');
INSERT INTO osv.quizzes (id, user_id, title, questions) VALUES (500, 100, 'Quiz', '[{"id": "q1", "prompt": "2 + 2?", "type": "single",
	"choices": [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}], "correct": ["b"]}]');
INSERT INTO osv.answers (id, quiz_id, user_id, responses) VALUES (600, 500, 101, '{"q1": "b"}');
INSERT INTO osv.rooms (id, user_id, name) VALUES (700, 100, 'Exam week');
INSERT INTO osv.room_participations (id, room_id, user_id) VALUES (800, 700, 101);
INSERT INTO osv.activity_logs (id, user_id, event_type, occurred_at) VALUES (900, 100, 'page.view', now()), (901, 100, 'page.view', '2001-01-01');
INSERT INTO osv.badges (id, slug, name, criteria) VALUES (1000, 'starter', 'Starter', '{}');
INSERT INTO osv.awards (id, user_id, badge_id) VALUES (1100, 100, 1000);
INSERT INTO osv.points (id, user_id, amount, reason) VALUES (1200, 100, 5, 'seeded');
SELECT tableoid::regclass AS partition, id FROM osv.activity_logs WHERE id = 901;
-- the partitions of activity_logs have no identity of their own: a default id comes through the parent only
SELECT c.relname, a.attidentity FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE a.attname = 'id' AND c.relname IN ('activity_logs', 'activity_logs_default') ORDER BY 1;
INSERT INTO osv.activity_logs_default (user_id, event_type, occurred_at) VALUES (100, 'page.view', '2001-01-02');
-- osv's own records keep GENERATED ALWAYS
INSERT INTO osv.job_runs (id, job, started_at) VALUES (1, 'x', now());

-- The sequences did not see those ids: a default id can collide ...
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|' || i, 'u' || i || '@example.org' FROM generate_series(1, 100) i;
-- ... until osv.reset_identities() moves every sequence past its table's ids
SELECT osv.reset_identities() AS moved;
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|cy', 'cy@example.org') RETURNING id;
INSERT INTO osv.activity_logs (user_id, event_type) VALUES (100, 'page.view') RETURNING id;
-- never back, and again it moves nothing
SELECT osv.reset_identities() AS moved;
SELECT last_value FROM osv.users_id_seq;
-- an osv_admin member may run it, the app may not
SET ROLE osv_admin;
SELECT osv.reset_identities() AS moved;
SET ROLE osv_app;
SELECT osv.reset_identities() AS moved;
RESET ROLE;
-- the archive of activity logs counts too
SELECT osv.prepare_archive_day('2000-01-01');
INSERT INTO osv.activity_logs_archive (id, user_id, event_type, occurred_at, properties, archived_at)
VALUES (5000, 100, 'page.view', '2000-01-01', '{}', now());
SELECT osv.reset_identities() AS moved;
INSERT INTO osv.activity_logs (user_id, event_type) VALUES (100, 'page.view') RETURNING id;
DROP TABLE osv.activity_logs_archive_p20000101;

-- updated_at on answers, recommendations, room_participations: touched by
-- any update (a soft delete too), kept when the statement sets it (Eloquent)
UPDATE osv.answers SET updated_at = '2020-01-01' WHERE id = 600;
UPDATE osv.recommendations SET updated_at = '2020-01-01' WHERE id = 400;
UPDATE osv.room_participations SET updated_at = '2020-01-01' WHERE id = 800;
SELECT (SELECT updated_at = '2020-01-01' FROM osv.answers WHERE id = 600) AS answer_kept,
       (SELECT updated_at = '2020-01-01' FROM osv.recommendations WHERE id = 400) AS recommendation_kept,
       (SELECT updated_at = '2020-01-01' FROM osv.room_participations WHERE id = 800) AS participation_kept;
BEGIN;
UPDATE osv.answers SET deleted_at = now() WHERE id = 600;
UPDATE osv.recommendations SET revoked_at = now() WHERE id = 400;
UPDATE osv.room_participations SET last_seen_at = now() WHERE id = 800;
SELECT (SELECT updated_at = now() FROM osv.answers WHERE id = 600) AS answer_touched,
       (SELECT updated_at = now() FROM osv.recommendations WHERE id = 400) AS recommendation_touched,
       (SELECT updated_at = now() FROM osv.room_participations WHERE id = 800) AS participation_touched;
COMMIT;
-- a cascade touches the children it trashes
UPDATE osv.room_participations SET updated_at = '2020-01-01' WHERE id = 800;
BEGIN;
UPDATE osv.rooms SET deleted_at = now() WHERE id = 700;
SELECT deleted_at = now() AS trashed, updated_at = now() AS touched FROM osv.room_participations WHERE id = 800;
ROLLBACK;

-- One SQLSTATE per condition: a row an argument names that does not exist
-- is no_data_found (P0002) in every function
\set VERBOSITY sqlstate
SELECT osv.log_activity(-1, 'page.view');
SELECT osv.join_room(-1, 100);
SELECT osv.join_room(700, -1);
SELECT osv.submit_answer(-1, 101, '{}');
SELECT osv.create_quiz(100, 'q', '[]', -1);
SELECT osv.award_points(-1, 1, 'x');
SELECT osv.data_export(-1);
SELECT osv.soft_delete('osv.users', -1);
SELECT osv.similar_summaries(-1);
SELECT osv.refresh_recommendations(-1);
-- a trashed row: object_not_in_prerequisite_state (55000)
UPDATE osv.rooms SET deleted_at = now() WHERE id = 700;
SELECT osv.join_room(700, 101);
SELECT osv.soft_delete('osv.users', 101) IS NOT NULL AS trashed \gset
SELECT osv.award_points(101, 1, 'x');
\set VERBOSITY terse
