-- pgTAP: a trashed row is visible only to its owner (DESIGN.md section 9),
-- also through the functions that run as the extension owner: to an
-- osv_app session acting for another user, a trashed room or quiz does
-- not exist, as row-level security shows it; its owner (and an operator)
-- hears that it is trashed.
BEGIN;
SELECT plan(12);

\o /dev/null
CREATE TEMP TABLE tu AS
SELECT osv.upsert_auth0_user(jsonb_build_object('sub', 'auth0|trashed-' || n, 'email', 'trashed-' || n || '@example.org')) AS id, n
FROM unnest(ARRAY['a', 'b']) n;
CREATE TEMP TABLE tf AS
SELECT osv.create_room((SELECT id FROM tu WHERE n = 'b'), 'trashed room of b') AS room,
	   osv.create_quiz((SELECT id FROM tu WHERE n = 'b'), 'trashed quiz of b',
					   '[{"id": "q1", "prompt": "2+2?", "type": "single", "choices": [{"id": "a", "text": "4"}, {"id": "b", "text": "5"}], "correct": ["a"]}]') AS quiz;
SELECT osv.soft_delete('osv.rooms', room), osv.soft_delete('osv.quizzes', quiz) FROM tf;
GRANT SELECT ON tu, tf TO PUBLIC;
CREATE FUNCTION pg_temp.uid(who text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT id FROM tu WHERE n = who $$;
\o

-- an operator (here the superuser) is told the rows are trashed
SELECT throws_ok(format('SELECT osv.join_room(%s, %s)', (SELECT room FROM tf), pg_temp.uid('a')),
				 '55000', format('room %s is trashed', (SELECT room FROM tf)), 'an operator: the room is trashed');
SELECT throws_ok(format($$SELECT osv.submit_answer(%s, %s, '{"q1": "a"}')$$, (SELECT quiz FROM tf), pg_temp.uid('a')),
				 '55000', format('quiz %s is trashed', (SELECT quiz FROM tf)), 'an operator: the quiz is trashed');

SET LOCAL ROLE osv_app;
SELECT set_config('osv.acting_user_id', pg_temp.uid('a')::text, true);
SELECT is((SELECT count(*) FROM osv.rooms r, tf WHERE r.id = tf.room), 0::bigint,
		  'acting for a, row-level security hides the trashed room of b');
SELECT is((SELECT count(*) FROM osv.quizzes q, tf WHERE q.id = tf.quiz), 0::bigint,
		  'acting for a, row-level security hides the trashed quiz of b');
SELECT throws_ok(format(q, (SELECT room FROM tf), pg_temp.uid('a')),
				 'P0002', format('room %s does not exist', (SELECT room FROM tf)),
				 'acting for a, the trashed room of b does not exist: ' || q)
FROM unnest(ARRAY['SELECT osv.join_room(%s, %s)', 'SELECT osv.leave_room(%s, %s)',
				  'SELECT osv.room_heartbeat(%s, %s)']) q;
SELECT throws_ok(format($$SELECT osv.submit_answer(%s, %s, '{"q1": "a"}')$$, (SELECT quiz FROM tf), pg_temp.uid('a')),
				 'P0002', format('quiz %s does not exist', (SELECT quiz FROM tf)),
				 'acting for a, the trashed quiz of b does not exist');

-- acting for nobody, nothing is told apart either
SELECT set_config('osv.acting_user_id', '', true);
SELECT throws_ok(format($$SELECT osv.submit_answer(%s, %s, '{"q1": "a"}')$$, (SELECT quiz FROM tf), pg_temp.uid('a')),
				 'P0002', format('quiz %s does not exist', (SELECT quiz FROM tf)),
				 'acting for nobody, the trashed quiz of b does not exist');

-- the owner hears that they are trashed (Laravel restores its own trashed rows)
SELECT set_config('osv.acting_user_id', pg_temp.uid('b')::text, true);
SELECT throws_ok(format('SELECT osv.join_room(%s, %s)', (SELECT room FROM tf), pg_temp.uid('b')),
				 '55000', format('room %s is trashed', (SELECT room FROM tf)), 'acting for b, its room is trashed');
SELECT throws_ok(format($$SELECT osv.submit_answer(%s, %s, '{"q1": "a"}')$$, (SELECT quiz FROM tf), pg_temp.uid('b')),
				 '55000', format('quiz %s is trashed', (SELECT quiz FROM tf)), 'acting for b, its quiz is trashed');
SELECT throws_ok(format('SELECT osv.join_room(%s, %s)', (SELECT room FROM tf) + 1000000, pg_temp.uid('b')),
				 'P0002', format('room %s does not exist', (SELECT room FROM tf) + 1000000), 'a room that never existed does not exist');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
