-- pgTAP: row-level security from the app role's side, and every way a
-- role without superuser rights could read a secret (DESIGN.md section 9).
-- The Qdrant API key is set inline for the duration of the file.
ALTER SYSTEM SET osv.qdrant_api_key = 'osv-tap-secret-7f3a9c';
\o /dev/null
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
\o

BEGIN;
SELECT * FROM no_plan();

\o /dev/null
-- fixtures, as the owner: users a and b with a row in every user table,
-- and a trashed row where the table has soft deletes
INSERT INTO osv.badges (slug, name, criteria) VALUES ('tap-any', 'Any', '{}');
CREATE TEMP TABLE u AS
SELECT osv.upsert_auth0_user(jsonb_build_object('sub', 'auth0|rls-' || n, 'email', 'rls-' || n || '@example.org', 'name', 'Rls ' || n)) AS id, n
FROM unnest(ARRAY['a', 'b']) n;
GRANT SELECT ON u TO PUBLIC;
CREATE FUNCTION pg_temp.uid(n text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT id FROM u WHERE u.n = $1 $$;
CREATE TEMP TABLE fixture AS
SELECT n,
	   osv.register_upload(pg_temp.uid(n), 'tap-bucket', n || '/live.pdf', 'application/pdf', 1, repeat('a', 64)) AS doc,
	   osv.register_upload(pg_temp.uid(n), 'tap-bucket', n || '/trashed.pdf', 'application/pdf', 1, repeat('b', 64)) AS trashed_doc,
	   osv.create_room(pg_temp.uid(n), 'room of ' || n) AS room,
	   osv.create_room(pg_temp.uid(n), 'trashed room of ' || n) AS trashed_room,
	   osv.create_quiz(pg_temp.uid(n), 'quiz of ' || n,
					   '[{"id": "q1", "prompt": "2+2?", "type": "single", "choices": [{"id": "a", "text": "4"}, {"id": "b", "text": "5"}], "correct": ["a"]}]') AS quiz
FROM u;
GRANT SELECT ON fixture TO PUBLIC;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT f.doc, 'tap', 'summary of ' || f.n, osv.embed_text('cells and membranes ' || f.n) FROM fixture f;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT f.trashed_doc, 'tap', 'trashed summary of ' || f.n, osv.embed_text('cells ' || f.n) FROM fixture f;
SELECT osv.submit_answer(f2.quiz, pg_temp.uid(f.n), '{"q1": "a"}') FROM fixture f JOIN fixture f2 ON f2.n <> f.n;
SELECT osv.join_room(f2.room, pg_temp.uid(f.n)) FROM fixture f JOIN fixture f2 ON f2.n <> f.n;
SELECT osv.join_room(f.room, pg_temp.uid(f.n)) FROM fixture f;
SELECT osv.award_points(id, 5, 'tap') FROM u;
SELECT osv.log_activity(id, 'tap.old') FROM u;
UPDATE osv.activity_logs SET occurred_at = now() - interval '200 days' WHERE event_type = 'tap.old';
SELECT osv.archive_activity_logs('90 days');
SELECT osv.log_activity(id, 'tap.event') FROM u;
SELECT osv.refresh_recommendations(id) FROM u;
SELECT osv.soft_delete('osv.documents', trashed_doc), osv.soft_delete('osv.rooms', trashed_room) FROM fixture;

CREATE FUNCTION pg_temp.changed(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE q;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
\o
SELECT ok((SELECT count(*) FROM osv.recommendations WHERE user_id = pg_temp.uid('a') AND revoked_at IS NULL) > 0,
		  'fixture: a has a live recommendation');

-- the user tables the app reads, with the column naming the owner
CREATE TEMP TABLE user_table (tbl regclass, owner_col name, shared boolean);
INSERT INTO user_table VALUES
	('osv.users', 'id', false), ('osv.documents', 'user_id', false), ('osv.summaries', 'user_id', false),
	('osv.recommendations', 'user_id', false), ('osv.quizzes', 'user_id', true), ('osv.answers', 'user_id', false),
	('osv.rooms', 'user_id', true), ('osv.room_participations', 'user_id', true),
	('osv.activity_logs', 'user_id', false), ('osv.activity_logs_archive', 'user_id', false),
	('osv.awards', 'user_id', false), ('osv.points', 'user_id', false), ('osv.point_totals', 'user_id', false);
GRANT SELECT ON user_table TO PUBLIC;
SELECT ok((SELECT count(*) FROM osv.users) >= 2, 'fixture: users exist');
SELECT ok(EXISTS (SELECT 1 FROM user_table t WHERE t.tbl = e.relation::regclass), e.relation || ' is covered here')
FROM (SELECT unnest(ARRAY['osv.users', 'osv.documents', 'osv.summaries', 'osv.recommendations', 'osv.quizzes',
		'osv.answers', 'osv.rooms', 'osv.room_participations', 'osv.activity_logs', 'osv.activity_logs_archive',
		'osv.awards', 'osv.points', 'osv.point_totals']) AS relation) e;

-- rows of b per table, counted by the owner
CREATE FUNCTION pg_temp.count_rows(tbl regclass, owner_col name, owner bigint, extra text DEFAULT 'true')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1 AND %s', tbl, owner_col, extra) INTO n USING owner;
	RETURN n;
END $$;
SELECT ok(pg_temp.count_rows(t.tbl, t.owner_col, pg_temp.uid('b')) > 0, 'the owner sees rows of b in ' || t.tbl)
FROM user_table t;

-- nothing while the acting user is unset or 0
SET LOCAL ROLE osv_app;
SELECT is(pg_temp.count_rows(t.tbl, t.owner_col, u.id), 0::bigint,
		  'osv_app acting for nobody sees no row of ' || u.n || ' in ' || t.tbl)
FROM user_table t, u;
SET LOCAL osv.acting_user_id = 0;
SELECT is(pg_temp.count_rows(t.tbl, t.owner_col, u.id), 0::bigint,
		  'osv_app acting for 0 sees no row of ' || u.n || ' in ' || t.tbl)
FROM user_table t, u;

-- acting for a: every own row, no row of b except shared live ones
SELECT set_config('osv.acting_user_id', pg_temp.uid('a')::text, true);
SELECT is(pg_temp.count_rows(t.tbl, t.owner_col, pg_temp.uid('b')), 0::bigint,
		  'osv_app acting for a sees 0 rows of b in ' || t.tbl)
FROM user_table t WHERE NOT t.shared AND t.tbl <> 'osv.summaries'::regclass;
SELECT is(pg_temp.count_rows(t.tbl, t.owner_col, pg_temp.uid('b'), 'deleted_at IS NOT NULL'), 0::bigint,
		  'osv_app acting for a sees no trashed row of b in ' || t.tbl)
FROM user_table t WHERE t.shared;
SELECT ok(pg_temp.count_rows(t.tbl, t.owner_col, pg_temp.uid('b'), 'deleted_at IS NULL') > 0,
		  'osv_app acting for a sees the live shared rows of b in ' || t.tbl)
FROM user_table t WHERE t.shared;
SELECT ok(pg_temp.count_rows(t.tbl, t.owner_col, pg_temp.uid('a'), 'deleted_at IS NOT NULL') > 0,
		  'osv_app acting for a sees its own trashed rows in ' || t.tbl)
FROM user_table t WHERE t.tbl IN ('osv.documents'::regclass, 'osv.summaries', 'osv.rooms');
-- summaries of b: only those recommended to a, live
SELECT is((SELECT count(*) FROM osv.summaries s WHERE s.user_id = pg_temp.uid('b')),
		  (SELECT count(*) FROM osv.recommendations r WHERE r.revoked_at IS NULL AND r.deleted_at IS NULL
		   AND r.expires_at > now()),
		  'osv_app acting for a reads the summaries of b recommended to a, and no other');
SELECT is((SELECT count(*) FROM osv.summaries s WHERE s.user_id = pg_temp.uid('b') AND s.deleted_at IS NOT NULL), 0::bigint,
		  'no trashed summary of b, recommended or not');

-- writes to rows of b change nothing; inserts for b are refused
SELECT is(pg_temp.changed(format('UPDATE osv.documents SET title = ''x'' WHERE user_id = %s', pg_temp.uid('b'))),
		  0::bigint, 'update of b''s documents changes nothing');
SELECT is(pg_temp.changed(format('DELETE FROM osv.rooms WHERE user_id = %s', pg_temp.uid('b'))),
		  0::bigint, 'delete of b''s rooms changes nothing');
SELECT is(pg_temp.changed(format('UPDATE osv.room_participations SET left_at = now() WHERE user_id = %s', pg_temp.uid('b'))),
		  0::bigint, 'update of b''s participations in a''s room changes nothing');
SELECT is(pg_temp.changed(format('UPDATE osv.users SET name = ''x'' WHERE id = %s', pg_temp.uid('b'))),
		  0::bigint, 'update of user b changes nothing');
SELECT throws_ok(format($$INSERT INTO osv.rooms (user_id, name) VALUES (%s, 'evil')$$, pg_temp.uid('b')), '42501', NULL,
				 'a room for b is refused');
SELECT throws_ok(format($$INSERT INTO osv.summaries (document_id, content) VALUES (%s, 'evil')$$,
						(SELECT doc FROM fixture WHERE n = 'b')), '42501', NULL,
				 'a summary of b''s document is refused');
SELECT throws_ok(format($$INSERT INTO osv.summaries (document_id, user_id, content) VALUES (%s, %s, 'evil')$$,
						(SELECT doc FROM fixture WHERE n = 'b'), pg_temp.uid('a')),
				 '42501', NULL, 'a summary of a on b''s document is refused');
SELECT throws_ok($$INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at) SELECT user_id, id, 1, now() + interval '1 day' FROM osv.summaries LIMIT 1$$,
				 '42501', NULL, 'the app cannot write recommendations itself');
SELECT throws_ok($$INSERT INTO osv.points (user_id, amount, reason) VALUES (osv.acting_user_id(), 1000, 'self')$$,
				 '42501', NULL, 'the app cannot write the points ledger itself');

-- functions taking a user id refuse b
SELECT throws_ok(format(q, pg_temp.uid('b')), '42501', 'cannot act for user ' || pg_temp.uid('b'), 'refused for b: ' || q)
FROM unnest(ARRAY[
	$$SELECT osv.log_activity(%s, 'evil')$$,
	$$SELECT osv.award_points(%s, 1, 'evil')$$,
	$$SELECT osv.create_room(%s, 'evil')$$,
	$$SELECT osv.register_upload(%s, 'tap-bucket', 'evil', 'application/pdf', 1, repeat('c', 64))$$,
	$$SELECT osv.create_quiz(%s, 'evil', '[]')$$,
	$$SELECT osv.join_room((SELECT room FROM fixture WHERE n = 'a'), %s)$$,
	$$SELECT osv.leave_room((SELECT room FROM fixture WHERE n = 'a'), %s)$$,
	$$SELECT osv.submit_answer((SELECT quiz FROM fixture WHERE n = 'a'), %s, '{}')$$,
	$$SELECT osv.refresh_recommendations(%s)$$,
	$$SELECT osv.data_delete(%s)$$,
	$$SELECT * FROM osv.search_summaries(osv.embed_text('cells'), 5, %s)$$]) q;
SELECT throws_ok($$SELECT osv.upsert_auth0_user('{"sub": "auth0|rls-b", "email": "evil@example.org"}')$$, '42501',
				 'cannot act for user ' || pg_temp.uid('b'), 'acting for a, a sign-in of b is refused');
SELECT lives_ok($$SELECT osv.upsert_auth0_user('{"sub": "auth0|rls-a", "email": "rls-a@example.org", "name": "Rls a"}')$$,
				'acting for a, a sign-in of a');
SELECT set_config('osv.acting_user_id', '', true);
SELECT is(osv.upsert_auth0_user('{"sub": "auth0|rls-b", "email": "rls-b@example.org", "name": "Rls b"}'), pg_temp.uid('b'),
		  'acting for nobody, any sign-in (the app learns whom it acts for)');
SELECT set_config('osv.acting_user_id', pg_temp.uid('a')::text, true);
SELECT throws_ok(format('SELECT osv.data_export(%s)', pg_temp.uid('b')), 'P0002', NULL, 'data_export of b finds no user');
SELECT lives_ok(format('SELECT osv.data_export(%s)', pg_temp.uid('a')), 'data_export of a');
SELECT is((SELECT jsonb_array_length(osv.data_export(pg_temp.uid('a'))->'documents')), 2, 'a exports both of its documents, trashed included');
RESET ROLE;
SELECT ok(EXISTS (SELECT FROM osv.users WHERE id = pg_temp.uid('b')), 'b is still there');

-- the workers' role sees every row
SET LOCAL ROLE osv_worker;
SELECT ok(pg_temp.count_rows(t.tbl, t.owner_col, pg_temp.uid('b')) > 0, 'osv_worker sees rows of b in ' || t.tbl)
FROM user_table t;
RESET ROLE;

/* ------------------------------------------------------------------------
 * Secrets: every attempt, by every role, and by a superuser for the errors
 * ------------------------------------------------------------------------
 */
CREATE ROLE osv_tap_nobody;
GRANT USAGE ON SCHEMA osv TO osv_tap_nobody;
CREATE ROLE osv_tap_settings_reader IN ROLE osv_app;
GRANT pg_read_all_settings TO osv_tap_settings_reader;

CREATE TEMP TABLE attempt_result (role name, attempt text, outcome text);
CREATE FUNCTION pg_temp.attempt(r name, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
	m text; d text; h text; c text;
BEGIN
	BEGIN
		IF r IS NOT NULL THEN
			EXECUTE format('SET LOCAL ROLE %I', r);
		END IF;
		EXECUTE format('SELECT string_agg(t::text, E''\n'') FROM (%s) t', q) INTO result;
		RESET ROLE;
		RETURN 'ok: ' || coalesce(result, '');
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
		RETURN 'error: ' || concat_ws(' | ', m, d, h, c);
	END;
END $$;
INSERT INTO attempt_result
SELECT r, q, pg_temp.attempt(r, q)
FROM unnest(ARRAY['osv_app', 'osv_analyst', 'osv_monitor', 'osv_admin', 'osv_worker', 'osv_tap_nobody', NULL]) r,
	 unnest(ARRAY[
		$$SELECT osv.setting_interval('osv.qdrant_api_key')$$,
		$$SELECT osv.setting_interval('osv.qdrant_api_key_file')$$,
		$$SELECT osv.setting_interval('osv.s3_secret_access_key_file')$$,
		$$SELECT osv.setting_interval(name) FROM pg_settings WHERE name LIKE 'osv.%'$$,
		$$SELECT current_setting('osv.qdrant_api_key')$$,
		$$SELECT current_setting('osv.qdrant_api_key', true)$$,
		$$SELECT name, setting, reset_val, boot_val FROM pg_settings WHERE name LIKE 'osv.%'$$,
		$$SELECT * FROM pg_file_settings$$,
		$$SELECT pg_read_file('postgresql.auto.conf')$$,
		$$SELECT secret FROM osv.analytics_secret$$,
		$$SELECT osv.analytics_token(1)$$,
		$$SELECT * FROM osv.analytics_events$$,
		$$SELECT pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind = 'v'$$,
		$$SELECT prosrc FROM pg_proc WHERE pronamespace = 'osv'::regnamespace$$,
		$$SELECT * FROM osv.vector_outbox$$,
		$$SELECT * FROM osv.vector_sync_status$$,
		$$SELECT * FROM osv.erasure_receipts$$]) q
WHERE r IS NOT NULL OR q LIKE '%setting_interval%';

SELECT ok(outcome NOT LIKE '%osv-tap-secret-7f3a9c%'
		  AND outcome NOT LIKE '%' || (SELECT encode(secret, 'hex') FROM osv.analytics_secret) || '%'
		  AND outcome NOT LIKE '%' || (SELECT encode(secret, 'escape') FROM osv.analytics_secret) || '%',
		  coalesce(role, 'superuser') || ' reads no secret with ' || attempt)
FROM attempt_result;
SELECT ok(outcome LIKE 'error: permission denied for table analytics_secret%', role || ' cannot read the analytics secret')
FROM attempt_result WHERE attempt LIKE '%FROM osv.analytics_secret' AND role <> 'osv_tap_nobody';
SELECT ok(outcome LIKE 'error: %', coalesce(role, 'superuser') || ' gets an error from osv.setting_interval of a secret')
FROM attempt_result WHERE attempt LIKE '%setting_interval(''osv.qdrant_api_key'')';
SELECT ok(outcome LIKE 'ok: %' AND outcome <> 'ok: ', 'osv_analyst reads the tokenized events')
FROM attempt_result WHERE role = 'osv_analyst' AND attempt = 'SELECT * FROM osv.analytics_events';

-- tokens are those of osv.analytics_token (the owner's function)
SELECT set_eq($$SELECT DISTINCT user_token FROM osv.analytics_events$$,
			  $$SELECT DISTINCT osv.analytics_token(l.user_id) FROM osv.activity_logs l JOIN osv.users u ON u.id = l.user_id WHERE u.deleted_at IS NULL$$,
			  'analytics tokens are unchanged');

-- PostgreSQL's own rule, documented: members of pg_read_all_settings read
-- an inline key; a key file (osv.qdrant_api_key_file) keeps the key out of
-- every setting.
SELECT is(pg_temp.attempt('osv_tap_settings_reader', $$SELECT current_setting('osv.qdrant_api_key')$$),
		  'ok: (osv-tap-secret-7f3a9c)', 'pg_read_all_settings reads an inline key (PostgreSQL''s rule, documented)');

SELECT * FROM finish();
ROLLBACK;

ALTER SYSTEM RESET osv.qdrant_api_key;
\o /dev/null
SELECT pg_reload_conf();
\o
