--
-- osv.data_export() (src/export_json.c) against the SQL body it replaced:
-- the same jsonb, over every kind of column, under row-level security,
-- column privileges, other time zones and float settings.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;

-- The SQL body of osv.data_export() before src/export_json.c.
CREATE FUNCTION export_sql(user_id bigint) RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
	tables text;
	export jsonb;
BEGIN
	PERFORM osv.check_user_exists(user_id);
	SELECT string_agg(CASE WHEN k.rel IS NULL THEN format('''{}''::integer[] AS %I', k.key)
						   ELSE format('ARRAY(SELECT s FROM (SELECT %s FROM %s t WHERE t.user_id OPERATOR(pg_catalog.=) $1) s ORDER BY s.id) AS %I',
									   (SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY a.attnum)
										  FROM pg_attribute a
										 WHERE a.attrelid = k.rel AND a.attnum > 0 AND NOT a.attisdropped
										   AND a.attname <> 'trash_batch'),
									   k.rel, k.key) END,
					  ', ' ORDER BY k.ord)
	INTO tables
	FROM (VALUES (1, 'documents', 'osv.documents'), (2, 'summaries', 'osv.summaries'),
				 (3, 'recommendations', 'osv.recommendations'), (4, 'quizzes', 'osv.quizzes'),
				 (5, 'answers', 'osv.answers'), (6, 'rooms', 'osv.rooms'),
				 (7, 'room_participations', 'osv.room_participations'), (8, 'activity_logs', 'osv.activity_logs'),
				 (9, 'archived_activity_logs', 'osv.activity_logs_archive'), (10, 'points', 'osv.points')) AS v(ord, key, name),
		 LATERAL (SELECT to_regclass(v.name) AS rel, v.ord, v.key) k;
	EXECUTE format($q$
		SELECT pg_catalog.to_jsonb(r) FROM (
			SELECT 'osv.data_export/1' AS format, pg_catalog.now() AS exported_at,
				   (SELECT pg_catalog.to_jsonb(u) OPERATOR(pg_catalog.-) 'trash_batch'
					  FROM osv.users u WHERE u.id OPERATOR(pg_catalog.=) $1) AS "user",
				   %s,
				   (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							   'badge', b.slug, 'name', b.name, 'awarded_at', a.awarded_at) ORDER BY a.awarded_at, b.slug), '[]')
					  FROM osv.awards a JOIN osv.badges b ON b.id OPERATOR(pg_catalog.=) a.badge_id
					 WHERE a.user_id OPERATOR(pg_catalog.=) $1) AS awards) r$q$, tables)
	INTO export USING user_id;
	RETURN export;
END
$f$;
GRANT EXECUTE ON FUNCTION export_sql(bigint) TO PUBLIC;

-- Both exports of a user, compared as text (every number's digits and
-- scale, every key and its order), as jsonb, and by size in bytes (the
-- binary layout).  The same statement: the same exported_at.
CREATE FUNCTION export_same(user_id bigint) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	c jsonb := osv.data_export(user_id);
	s jsonb := export_sql(user_id);
BEGIN
	IF c::text = s::text AND c = s AND pg_column_size(c) = pg_column_size(s) THEN
		RETURN 'same';
	END IF;
	RETURN 'DIFFERENT: ' || left(c::text, 2000) || ' <> ' || left(s::text, 2000);
END
$f$;
GRANT EXECUTE ON FUNCTION export_same(bigint) TO PUBLIC;

-- Columns of every kind: added to osv.rooms for this test (and dropped at
-- the end), so that a room object also has more than 32 keys.
CREATE TYPE export_mood AS ENUM ('calm', 'busy');
CREATE TYPE export_pair AS (a int, b text);
ALTER TABLE osv.rooms
	ADD COLUMN c_int2 smallint, ADD COLUMN c_int4 integer, ADD COLUMN c_int8 bigint,
	ADD COLUMN c_float4 real, ADD COLUMN c_float8 double precision, ADD COLUMN c_numeric numeric,
	ADD COLUMN c_bool boolean, ADD COLUMN c_varchar varchar(40), ADD COLUMN c_date date,
	ADD COLUMN c_ts timestamp, ADD COLUMN c_json json, ADD COLUMN c_jsonb jsonb,
	ADD COLUMN c_reals real[], ADD COLUMN c_grid integer[], ADD COLUMN c_texts text[],
	ADD COLUMN c_numerics numeric[], ADD COLUMN c_flags boolean[], ADD COLUMN c_times timestamptz[],
	ADD COLUMN c_docs jsonb[], ADD COLUMN c_mood export_mood, ADD COLUMN c_pair export_pair,
	ADD COLUMN c_interval interval, ADD COLUMN c_uuid uuid, ADD COLUMN "Mixed Key" text, ADD COLUMN z text,
	ADD COLUMN c_gone text;
-- a dropped column is left out
ALTER TABLE osv.rooms DROP COLUMN c_gone;

INSERT INTO osv.users (auth0_id, email, name, picture_url)
VALUES ('auth0|exp', 'exp@example.org', 'Zoë «Ex» 🦉', NULL), ('auth0|other', 'other@example.org', 'Otto', NULL);
SELECT id AS uid FROM osv.users WHERE auth0_id = 'auth0|exp' \gset
SELECT id AS oid_ FROM osv.users WHERE auth0_id = 'auth0|other' \gset

INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key, content_type, size_bytes)
SELECT u, 'pdf', CASE n WHEN 1 THEN 'Ünïcödé ✓ "quoted" \ back\slash' || chr(10) || 'line'
						WHEN 2 THEN (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g)  -- toasted
						ELSE 'doc ' || n END,
	   'osv-docs', u || '/' || n, CASE WHEN n % 2 = 0 THEN 'application/pdf' END, CASE WHEN n % 3 = 0 THEN n * 1000 END
FROM (VALUES (:uid), (:oid_)) v(u), generate_series(1, 40) n;
INSERT INTO osv.summaries (document_id, topic, content)
SELECT id, CASE WHEN id % 2 = 0 THEN 'math' END, 'summary of ' || title FROM osv.documents;
-- embeddings: exact float4 values of every magnitude, and none
UPDATE osv.summaries SET embedding = osv.embed_text(content) WHERE id % 3 <> 0;
UPDATE osv.summaries SET embedding = (SELECT array_agg(CASE WHEN g = 1 THEN 1e-30 WHEN g = 2 THEN -123456.7
															 WHEN g = 3 THEN 9.5e14 ELSE (g * 0.1)::real / 7 END)::real[]
									 FROM generate_series(1, osv.embedding_dimensions()) g)
WHERE id = (SELECT min(id) FROM osv.summaries);
INSERT INTO osv.quizzes (user_id, title, questions)
SELECT u, 'quiz ' || n, '[{"id": "q1", "prompt": "2 + 2?", "type": "single", "choices": [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}], "correct": ["b"], "points": 2}]'
FROM (VALUES (:uid), (:oid_)) v(u), generate_series(1, 3) n;
INSERT INTO osv.answers (quiz_id, user_id, responses, score, max_score, passed)
SELECT q.id, :uid, '{"q1": ["b"]}', 2, 2, true FROM osv.quizzes q;
INSERT INTO osv.rooms (user_id, name) SELECT u, 'room ' || n FROM (VALUES (:uid), (:oid_)) v(u), generate_series(1, 4) n;
UPDATE osv.rooms SET c_int2 = -32768, c_int4 = 2147483647, c_int8 = -9223372036854775808, c_float4 = 'NaN',
	c_float8 = 'Infinity', c_numeric = 'NaN', c_bool = false, c_varchar = 'vär', c_date = '2024-02-29',
	c_ts = '2024-02-29 13:14:15.123456', c_json = '{"b": 1, "a": [1, 2.50, "x"], "a": 3}',
	c_jsonb = '"just a string"', c_reals = '{{1.5,NULL},{-Infinity,NaN}}', c_grid = '{{1,2,3},{4,5,6}}',
	c_texts = '{"a b",NULL,""}', c_numerics = '{1.10,NaN,-0.000}', c_flags = '{t,f,NULL}',
	c_times = '{2024-01-01 00:00:00+00,NULL}', c_docs = ARRAY['{"k": 1}'::jsonb, '[]', 'null', '7.50'],
	c_mood = 'busy', c_pair = ROW(1, 'one'), c_interval = '1 day 02:03:04', c_uuid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	"Mixed Key" = 'mixed', z = 'zed'
WHERE name = 'room 1';
UPDATE osv.rooms SET c_int2 = 0, c_int4 = -1, c_int8 = 10000, c_float4 = 'Infinity', c_float8 = 1e-300, c_numeric = 12345678901234567890.000001,
	c_bool = true, c_jsonb = (SELECT jsonb_build_object('list', jsonb_agg(g), 'nested', jsonb_build_object('deep', jsonb_build_array(1.0, 'ü', NULL, true)))
							  || (SELECT jsonb_object_agg('key' || g, g * 1.5) FROM generate_series(1, 40) g)
							  FROM generate_series(1, 70) g),
	c_reals = '{}', c_grid = '{}', c_texts = '{}', z = ''
WHERE name = 'room 2';
UPDATE osv.rooms SET c_jsonb = 'null', c_float4 = 3.4028235e38, c_numeric = 0.1, c_int4 = 0, c_float8 = -0.0,
	c_ts = 'infinity', c_date = '-infinity', c_times = '{infinity}', c_grid = '[0:1]={7,8}' WHERE name = 'room 3';
UPDATE osv.rooms SET c_jsonb = '12.3400', c_float4 = 1.17549435e-38, c_int4 = 123456789 WHERE name = 'room 4';
UPDATE osv.rooms SET c_jsonb = 'false', c_float4 = -0.0, c_int8 = 9223372036854775807 WHERE name = 'room 1' AND user_id = :oid_;
INSERT INTO osv.room_participations (room_id, user_id, left_at) SELECT id, :uid, now() FROM osv.rooms;
INSERT INTO osv.activity_logs (user_id, event_type, properties, occurred_at)
SELECT u, 'page.view', jsonb_build_object('page', n, 'ünï', repeat('x', n)), now() - n * interval '1 hour'
FROM (VALUES (:uid), (:oid_)) v(u), generate_series(1, 50) n;
INSERT INTO osv.activity_logs (user_id, event_type, properties) VALUES (:uid, 'empty', '{}');
SELECT osv.prepare_archive_day('2020-01-01'), osv.prepare_archive_day('2020-01-02');
INSERT INTO osv.activity_logs_archive (id, user_id, event_type, occurred_at, properties, archived_at)
VALUES (900001, :uid, 'archived.view', '2020-01-01 10:00:00+00', '{"old": true}', now()),
	   (900002, :uid, 'archived.view', '2020-01-02 10:00:00+00', '{}', now()),
	   (900003, :oid_, 'archived.view', '2020-01-02 10:00:00+00', '{}', now());
INSERT INTO osv.points (user_id, amount, reason) SELECT :uid, n, CASE WHEN n % 5 <> 0 THEN 'reason ' || n ELSE 'ünï ' || n END FROM generate_series(1, 40) n;
INSERT INTO osv.badges (slug, name) VALUES ('b-second', 'Second'), ('a-first', 'First «one»'), ('c-third', 'Third');
INSERT INTO osv.awards (user_id, badge_id, awarded_at) SELECT :uid, id, '2024-05-01 12:00:00+00' FROM osv.badges;
SELECT osv.refresh_recommendations(:oid_, 5) > 0 AS recommended, osv.refresh_recommendations(:uid, 5) > 0 AS recommended_too;
-- trashed rows are exported too (without trash_batch)
UPDATE osv.documents SET deleted_at = now() WHERE storage_key IN (:uid || '/3', :uid || '/4');
UPDATE osv.rooms SET deleted_at = now() WHERE name = 'room 4' AND user_id = :uid;

-- every table has rows of the user, and the exports agree
SELECT key, jsonb_typeof(value) AS type, CASE jsonb_typeof(value) WHEN 'array' THEN jsonb_array_length(value) END AS rows
FROM jsonb_each(osv.data_export(:uid)) ORDER BY key;
SELECT export_same(:uid) AS exp, export_same(:oid_) AS other;
SELECT (osv.data_export(:uid)->'rooms'->0) - 'created_at' - 'updated_at' - 'last_activity_at' - 'id' - 'user_id' AS room;
SELECT osv.data_export(:uid)->'documents' @? '$[*].trash_batch' AS trash_batch_shown,
	   jsonb_path_query_array(osv.data_export(:uid), '$.awards[*].badge') AS awards_in_order;

-- other settings that change how values are written
SET timezone = 'America/St_Johns';
SELECT export_same(:uid) AS st_johns;
RESET timezone;
SET extra_float_digits = 0;
SELECT export_same(:uid) AS float_digits_0;
SET extra_float_digits = -10;
SELECT export_same(:uid) AS float_digits_minus_10;
RESET extra_float_digits;
-- a trashed user is exported, as are their rows
UPDATE osv.users SET deleted_at = now() WHERE id = :uid;
SELECT export_same(:uid) AS trashed_user;
UPDATE osv.users SET deleted_at = NULL WHERE id = :uid;
-- in a read-only transaction (no row lock) and under REPEATABLE READ
BEGIN TRANSACTION READ ONLY;
SELECT export_same(:uid) AS read_only;
COMMIT;
BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SELECT export_same(:uid) AS repeatable_read;
COMMIT;

-- row-level security: an osv_app session sees what its acting user may see
CREATE ROLE export_app;
GRANT osv_app TO export_app;
SET ROLE export_app;
SET osv.acting_user_id = :uid;
SELECT export_same(:uid) AS as_app;
SELECT jsonb_array_length(osv.data_export(:uid)->'rooms') AS rooms_seen;
SET osv.acting_user_id = :oid_;
\set VERBOSITY terse
SELECT osv.data_export(:uid);
SELECT export_sql(:uid);
RESET osv.acting_user_id;
SELECT osv.data_export(:uid);
RESET ROLE;
-- column privileges are checked as before: a column the caller may not read
-- fails both (a role that row-level security does not apply to)
CREATE ROLE export_reader BYPASSRLS;
GRANT USAGE ON SCHEMA osv TO export_reader;
GRANT EXECUTE ON FUNCTION osv.data_export(bigint), osv.check_user_exists(bigint, boolean) TO export_reader;
GRANT SELECT ON osv.users, osv.summaries, osv.recommendations, osv.quizzes, osv.answers, osv.rooms,
	osv.room_participations, osv.activity_logs, osv.activity_logs_archive, osv.points, osv.awards, osv.badges TO export_reader;
GRANT SELECT (id, user_id, type, title, storage_bucket, storage_key, content_type, size_bytes, checksum_sha256,
			  created_at, updated_at, deleted_at) ON osv.documents TO export_reader;
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE export_reader;
SELECT export_same(:uid) AS without_trash_batch_of_documents;
ROLLBACK;
REVOKE SELECT (storage_key) ON osv.documents FROM export_reader;
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE export_reader;
SELECT osv.data_export(:uid);
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE export_reader;
SELECT export_sql(:uid);
ROLLBACK;
-- the user's own row needs every column, trash_batch too (to_jsonb(u) did)
GRANT SELECT ON osv.documents TO export_reader;
REVOKE SELECT ON osv.users FROM export_reader;
GRANT SELECT (id, auth0_id, email, email_verified, name, picture_url, role, logging_opt_out, created_at,
			  updated_at, deleted_at) ON osv.users TO export_reader;
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE export_reader;
SELECT osv.data_export(:uid);
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE export_reader;
SELECT export_sql(:uid);
ROLLBACK;
-- row-level security applies to every table read (plans made for a
-- superuser earlier in the session included): a role under a policy that
-- shows it the user's row, and under none that shows it any other row
CREATE ROLE export_probe;
GRANT USAGE ON SCHEMA osv TO export_probe;
GRANT EXECUTE ON FUNCTION osv.data_export(bigint), osv.check_user_exists(bigint, boolean) TO export_probe;
GRANT SELECT ON osv.users, osv.documents, osv.summaries, osv.recommendations, osv.quizzes, osv.answers, osv.rooms,
	osv.room_participations, osv.activity_logs, osv.activity_logs_archive, osv.points, osv.awards, osv.badges TO export_probe;
CREATE POLICY export_probe ON osv.users TO export_probe USING (true);
BEGIN TRANSACTION READ ONLY;
SET LOCAL ROLE export_probe;
SELECT export_same(:uid) AS under_rls, osv.data_export(:uid)->'user'->>'email' AS email,
	   (SELECT sum(jsonb_array_length(value)) FROM jsonb_each(osv.data_export(:uid)) WHERE jsonb_typeof(value) = 'array') AS rows_seen;
ROLLBACK;
DROP POLICY export_probe ON osv.users;

-- bad calls, as before
SELECT osv.data_export(NULL);
SELECT osv.data_export(-1);
\set VERBOSITY default

-- clean up
REVOKE ALL ON osv.users, osv.documents, osv.summaries, osv.recommendations, osv.quizzes, osv.answers, osv.rooms,
	osv.room_participations, osv.activity_logs, osv.activity_logs_archive, osv.points, osv.awards, osv.badges FROM export_reader;
REVOKE ALL ON SCHEMA osv FROM export_reader;
REVOKE ALL ON FUNCTION osv.data_export(bigint), osv.check_user_exists(bigint, boolean) FROM export_reader;
REVOKE ALL ON osv.users, osv.documents, osv.summaries, osv.recommendations, osv.quizzes, osv.answers, osv.rooms,
	osv.room_participations, osv.activity_logs, osv.activity_logs_archive, osv.points, osv.awards, osv.badges FROM export_probe;
REVOKE ALL ON SCHEMA osv FROM export_probe;
REVOKE ALL ON FUNCTION osv.data_export(bigint), osv.check_user_exists(bigint, boolean) FROM export_probe;
DROP ROLE export_reader, export_probe;
DROP ROLE export_app;
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges CASCADE;
TRUNCATE osv.vector_outbox, osv.storage_deletions;
DROP TABLE osv.activity_logs_archive_p20200101, osv.activity_logs_archive_p20200102;
RESET client_min_messages;
ALTER TABLE osv.rooms DROP COLUMN c_int2, DROP COLUMN c_int4, DROP COLUMN c_int8, DROP COLUMN c_float4,
	DROP COLUMN c_float8, DROP COLUMN c_numeric, DROP COLUMN c_bool, DROP COLUMN c_varchar, DROP COLUMN c_date,
	DROP COLUMN c_ts, DROP COLUMN c_json, DROP COLUMN c_jsonb, DROP COLUMN c_reals, DROP COLUMN c_grid,
	DROP COLUMN c_texts, DROP COLUMN c_numerics, DROP COLUMN c_flags, DROP COLUMN c_times, DROP COLUMN c_docs,
	DROP COLUMN c_mood, DROP COLUMN c_pair, DROP COLUMN c_interval, DROP COLUMN c_uuid, DROP COLUMN "Mixed Key",
	DROP COLUMN z;
DROP TYPE export_mood;
DROP TYPE export_pair;
DROP FUNCTION export_same(bigint);
DROP FUNCTION export_sql(bigint);
