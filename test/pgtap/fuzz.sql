-- pgTAP: a fuzz test generated from the catalog.  Every function that
-- osv_app may execute is called as osv_app acting for user a, with each
-- argument in turn replaced by NULL, empty, huge, negative, boundary,
-- metacharacter and other-user values of its type (the other arguments
-- keep valid values of user a).  Each call must succeed or fail with a
-- SQLSTATE that names the problem (classes 22, 23, 42 but for a missing
-- function or table or an ambiguous column, 54, 55, P0002); an internal
-- error (XX000, from elog), a bare RAISE (P0001), a crash or a time-out
-- fails the test.
-- Nothing of user b changes, whatever succeeded.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT * FROM no_plan();

\o /dev/null
INSERT INTO osv.badges (slug, name, criteria) VALUES ('fuzz-any', 'Any', '{}');
CREATE TEMP TABLE u AS
SELECT osv.upsert_auth0_user(jsonb_build_object('sub', 'auth0|fuzz-' || n, 'email', 'fuzz-' || n || '@example.org', 'name', 'Fuzz ' || n)) AS id, n
FROM unnest(ARRAY['a', 'b']) n;
CREATE TEMP TABLE fixture AS
SELECT u.n, u.id AS user_id,
	   osv.register_upload(u.id, 'fuzz-bucket', u.n || '/doc.pdf', 'application/pdf', 1, repeat('a', 64)) AS document_id,
	   osv.create_room(u.id, 'room of ' || u.n) AS room_id,
	   osv.create_quiz(u.id, 'quiz of ' || u.n,
					   '[{"id": "q1", "prompt": "2+2?", "type": "single", "choices": [{"id": "a", "text": "4"}, {"id": "b", "text": "5"}], "correct": ["a"]}]') AS quiz_id
FROM u;
ALTER TABLE fixture ADD summary_id bigint;
WITH ins AS (
	INSERT INTO osv.summaries (document_id, topic, content, embedding)
	SELECT f.document_id, 'fuzz', 'summary of ' || f.n, osv.embed_text('fuzz summary ' || f.n) FROM fixture f
	RETURNING id, document_id)
UPDATE fixture f SET summary_id = ins.id FROM ins WHERE ins.document_id = f.document_id;
SELECT osv.join_room(room_id, user_id) FROM fixture;
SELECT osv.award_points(user_id, 3, 'fuzz') FROM fixture;
SELECT osv.refresh_recommendations(user_id) FROM fixture;

-- what user b holds, as the owner sees it
CREATE FUNCTION pg_temp.fingerprint(owner bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t text;
	col text;
	part text;
	result text := '';
BEGIN
	FOR t, col IN VALUES ('osv.users', 'id'), ('osv.documents', 'user_id'), ('osv.summaries', 'user_id'),
			('osv.recommendations', 'user_id'), ('osv.quizzes', 'user_id'), ('osv.answers', 'user_id'),
			('osv.rooms', 'user_id'), ('osv.room_participations', 'user_id'), ('osv.activity_logs', 'user_id'),
			('osv.awards', 'user_id'), ('osv.points', 'user_id'), ('osv.point_totals', 'user_id') LOOP
		EXECUTE format('SELECT coalesce(string_agg((to_jsonb(x) - ''last_activity_at'' - ''updated_at'')::text, '','' ORDER BY x::text), '''') FROM %s x WHERE %I = $1',
					   t, col) INTO part USING owner;
		result := result || t || ':' || md5(part) || ' ';
	END LOOP;
	RETURN result;
END $$;
CREATE TEMP TABLE before_fuzz AS SELECT pg_temp.fingerprint(user_id) AS b FROM fixture WHERE n = 'b';

-- values per type: the valid one of user a first, then the fuzz values
CREATE TEMP TABLE fuzz_value (type text, name_like text, value text, valid boolean);
INSERT INTO fuzz_value
SELECT 'bigint', '%room%', room_id::text, true FROM fixture WHERE n = 'a' UNION ALL
SELECT 'bigint', '%quiz%', quiz_id::text, true FROM fixture WHERE n = 'a' UNION ALL
SELECT 'bigint', '%summary%', summary_id::text, true FROM fixture WHERE n = 'a' UNION ALL
SELECT 'bigint', '%document%', document_id::text, true FROM fixture WHERE n = 'a' UNION ALL
SELECT 'bigint', '%', user_id::text, true FROM fixture WHERE n = 'a' UNION ALL
SELECT 'bigint', '%', v, false FROM fixture f,
	LATERAL unnest(ARRAY[NULL, '0', '-1', '-9223372036854775808', '9223372036854775807',
						 f.user_id::text, f.room_id::text, f.quiz_id::text, f.summary_id::text, f.document_id::text]) v
	WHERE f.n = 'b';
INSERT INTO fuzz_value VALUES
	('integer', '%', '5', true),
	('integer', '%', NULL, false), ('integer', '%', '0', false), ('integer', '%', '-1', false),
	('integer', '%', '-2147483648', false), ('integer', '%', '2147483647', false), ('integer', '%', '1001', false),
	('text', '%', 'fuzz', true),
	('text', '%', NULL, false), ('text', '%', '', false), ('text', '%', ' ', false),
	('text', '%', repeat('x', 1000000), false), ('text', '%', $$'); DROP TABLE osv.users; --$$, false),
	('text', '%', '%s%n%x\', false), ('text', '%', '../../../etc/passwd', false),
	('text', '%', 'osv.qdrant_api_key', false), ('text', '%', E'\u00e9\u2603\U0001F600', false),
	('text', '%', 'application/pdf', false), ('text', '%', repeat('a', 64), false),
	('jsonb', '%', '{}', true),
	('jsonb', '%', NULL, false), ('jsonb', '%', 'null', false), ('jsonb', '%', '[]', false), ('jsonb', '%', '"x"', false),
	('jsonb', '%', '42', false), ('jsonb', '%', repeat('[', 5000) || repeat(']', 5000), false),
	('jsonb', '%', '{"sub": "auth0|fuzz-b", "email": "fuzz-b@example.org"}', false),
	('jsonb', '%', '{"sub": "x''; DROP TABLE osv.users; --", "email": "a@b"}', false),
	('jsonb', '%', '{"q1": ["a", "b", "c"], "zz": {"deep": [1, 2]}}', false),
	('jsonb', '%', (SELECT jsonb_object_agg('k' || i, repeat('v', 100)) FROM generate_series(1, 10000) i)::text, false),
	('real[]', '%', osv.embed_text('fuzz')::text, true),
	('real[]', '%', NULL, false), ('real[]', '%', '{}', false), ('real[]', '%', '{NaN}', false),
	('real[]', '%', '{1,2,3}', false), ('real[]', '%', array_fill(0::real, ARRAY[384])::text, false),
	('real[]', '%', array_fill(1::real, ARRAY[100000])::text, false),
	('real[]', '%', array_fill(1::real, ARRAY[2, 384])::text, false),
	('real[]', '%', array_fill('Infinity'::real, ARRAY[384])::text, false),
	('real[]', '%', (array_fill(NULL::real, ARRAY[384]))::text, false),
	('regclass', '%', 'osv.documents', true),
	('regclass', '%', NULL, false), ('regclass', '%', 'osv.users', false), ('regclass', '%', 'osv.vector_outbox', false),
	('regclass', '%', 'osv.analytics_secret', false), ('regclass', '%', 'pg_catalog.pg_authid', false),
	('regclass', '%', 'osv.activity_logs', false),
	('boolean', '%', 'false', true), ('boolean', '%', NULL, false), ('boolean', '%', 'true', false);
-- vectors in the clients' forms (src/vector_input.c): JSON text, float4 bytes, float8[]
INSERT INTO fuzz_value
SELECT 'text', n, array_to_json(osv.embed_text('fuzz'))::text, true FROM unnest(ARRAY['query', 'vector']) n UNION ALL
SELECT 'text', '%', v, false FROM unnest(ARRAY['[]', '[1, 2, 3]', '[[1, 2], [3, 4]]', '[1e39]', '[null]', '[NaN]', '{1,2',
	'[' || repeat('1', 200) || ']', repeat('[', 100000), '[' || repeat('1, ', 300000) || '1]']) v UNION ALL
SELECT 'bytea', '%', osv.vector_to_bytes(osv.embed_text('fuzz'))::text, true UNION ALL
SELECT 'bytea', '%', v, false FROM unnest(ARRAY[NULL, '', '\x00', '\x0000803f', '\x' || repeat('0000c07f', 384),
	'\x' || repeat('00', 1000001)]) v UNION ALL
SELECT 'double precision[]', '%', osv.embed_text('fuzz')::float8[]::text, true UNION ALL
SELECT 'double precision[]', '%', v, false FROM unnest(ARRAY[NULL, '{}', '{1e300}', '{-1e-300}', '{NaN}', '{{1,2},{3,4}}',
	array_fill(NULL::float8, ARRAY[384])::text]) v;
GRANT SELECT ON fuzz_value, fixture TO PUBLIC;

CREATE TEMP TABLE fuzz_call (fn regprocedure, call text, sqlstate text, message text);
GRANT ALL ON fuzz_call TO PUBLIC;

CREATE FUNCTION pg_temp.fuzz() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	p record;
	i integer;
	v record;
	args text[];
	arg_types regtype[];
	arg_names text[];
	call text;
	state text;
	msg text;
	a_id bigint := (SELECT user_id FROM fixture WHERE n = 'a');
BEGIN
	FOR p IN SELECT f.oid, f.oid::regprocedure AS sig, f.proname, f.proargtypes::regtype[] AS types,
					coalesce(f.proargnames, '{}') AS names, f.pronargs
			 FROM pg_proc f
			 WHERE f.pronamespace = 'osv'::regnamespace AND f.prokind = 'f'
			   AND has_function_privilege('osv_app', f.oid, 'EXECUTE')
			 ORDER BY f.proname LOOP
		arg_types := p.types;
		arg_names := p.names;
		-- the valid tuple
		args := ARRAY[]::text[];
		FOR i IN 1 .. p.pronargs LOOP
			SELECT format('%s::%s', quote_nullable(fv.value), fv.type) INTO call
			FROM fuzz_value fv
			WHERE fv.type = arg_types[i - 1 + array_lower(arg_types, 1)]::text AND fv.valid
			  AND coalesce(arg_names[i], '') LIKE fv.name_like
			ORDER BY fv.name_like DESC LIMIT 1;
			IF call IS NULL THEN
				RAISE EXCEPTION 'no fuzz value of type % for %', arg_types[i - 1 + array_lower(arg_types, 1)], p.sig;
			END IF;
			args := args || call;
		END LOOP;
		-- one argument at a time; the valid tuple itself once (i = 0)
		FOR i IN 0 .. p.pronargs LOOP
			FOR v IN SELECT fv.value, fv.type FROM fuzz_value fv
					 WHERE i = 0 AND fv.type = 'boolean' AND fv.valid
					    OR i > 0 AND fv.type = arg_types[i - 1 + array_lower(arg_types, 1)]::text AND NOT fv.valid LOOP
				IF i = 0 THEN
					call := format('SELECT * FROM %s(%s)', p.oid::regproc, array_to_string(args, ', '));
				ELSE
					call := format('SELECT * FROM %s(%s)', p.oid::regproc,
								   array_to_string(args[1:i - 1] || format('%s::%s', quote_nullable(v.value), v.type)
												   || args[i + 1:], ', '));
				END IF;
				state := '00000';
				msg := NULL;
				BEGIN
					SET LOCAL ROLE osv_app;
					PERFORM set_config('osv.acting_user_id', a_id::text, true);
					PERFORM set_config('statement_timeout', '20s', true);
					EXECUTE call;
					RESET ROLE;
					IF p.proname IN ('data_delete', 'soft_delete', 'set_trashed') THEN
						RAISE EXCEPTION USING ERRCODE = 'OSVRB';	-- keep the fixture
					END IF;
				EXCEPTION WHEN SQLSTATE 'OSVRB' THEN
					NULL;
				WHEN OTHERS THEN
					GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
				END;
				RESET ROLE;
				INSERT INTO fuzz_call VALUES (p.sig, left(call, 300), state, left(msg, 300));
			END LOOP;
		END LOOP;
	END LOOP;
END $$;
SELECT pg_temp.fuzz();
\o

SELECT ok((SELECT count(DISTINCT fn) FROM fuzz_call) >= 25, 'every function osv_app may execute was called: ' || (SELECT count(DISTINCT fn) FROM fuzz_call));
SELECT ok((SELECT count(*) FROM fuzz_call) > 300, 'calls made: ' || (SELECT count(*) FROM fuzz_call));
SELECT ok(sqlstate = '00000' OR sqlstate ~ '^(22|23|42|54|55)' AND sqlstate NOT IN ('42883', '42P01', '42702')
		  OR sqlstate = 'P0002',
		  fn || ' answers ' || sqlstate || ': ' || left(coalesce(message, ''), 120) || ' <- ' || left(call, 200))
FROM fuzz_call ORDER BY fn::text, call;
SELECT is((SELECT count(*) FROM fuzz_call WHERE call LIKE '%' || (SELECT user_id FROM fixture WHERE n = 'b') || '::bigint%'
		   AND fn::text ~ '(award_points|log_activity|create_room|register_upload|create_quiz|submit_answer|refresh_recommendations|data_delete|join_room|leave_room|touch_room|require_live_user)'
		   AND call ~ ('\(' || (SELECT user_id FROM fixture WHERE n = 'b') || '::bigint')
		   AND sqlstate = '00000' AND fn::text !~ '(join_room|leave_room|touch_room|submit_answer)'),
		  0::bigint, 'no function acted for user b');
SELECT is((SELECT pg_temp.fingerprint(user_id) FROM fixture WHERE n = 'b'), (SELECT b FROM before_fuzz),
		  'nothing of user b changed');

SELECT * FROM finish();
ROLLBACK;
