-- pgTAP: the domain API of DESIGN.md section 7, its signatures and the
-- SQLSTATEs of its errors (pg_regress checks the messages).
BEGIN;
SELECT plan(46);

-- signatures
SELECT has_function('osv', 'upsert_auth0_user', ARRAY['jsonb']);
SELECT function_returns('osv', 'upsert_auth0_user', ARRAY['jsonb'], 'bigint');
SELECT has_function('osv', 'log_activity', ARRAY['bigint', 'text', 'jsonb']);
SELECT function_returns('osv', 'log_activity', ARRAY['bigint', 'text', 'jsonb'], 'bigint');
SELECT has_function('osv', 'submit_answer', ARRAY['bigint', 'bigint', 'jsonb']);
SELECT function_returns('osv', 'submit_answer', ARRAY['bigint', 'bigint', 'jsonb'], 'osv.answers');
SELECT has_function('osv', 'join_room', ARRAY['bigint', 'bigint']);
SELECT has_function('osv', 'leave_room', ARRAY['bigint', 'bigint']);
SELECT has_function('osv', 'room_heartbeat', ARRAY['bigint', 'bigint']);
SELECT has_function('osv', 'award_points', ARRAY['bigint', 'integer', 'text']);
SELECT function_returns('osv', 'award_points', ARRAY['bigint', 'integer', 'text'], 'bigint');
SELECT has_function('osv', 'leaderboard', ARRAY['integer']);
SELECT has_function('osv', 'register_upload', ARRAY['bigint', 'text', 'text', 'text', 'bigint', 'text', 'text', 'text']);
SELECT has_function('osv', 'create_quiz', ARRAY['bigint', 'text', 'jsonb', 'bigint', 'integer']);
SELECT has_function('osv', 'create_room', ARRAY['bigint', 'text']);
SELECT volatility_is('osv', 'leaderboard', ARRAY['integer'], 'stable');
SELECT volatility_is('osv', 'log_activity', ARRAY['bigint', 'text', 'jsonb'], 'volatile');

-- tables and indexes behind the rules
SELECT has_table('osv', 'point_totals', 'per-user point totals exist');
SELECT has_index('osv', 'point_totals', 'point_totals_points_idx', ARRAY['points', 'user_id']);
SELECT has_index('osv', 'answers', 'answers_rewarded_key', ARRAY['quiz_id', 'user_id']);
SELECT has_index('osv', 'room_participations', 'room_participations_present_key', ARRAY['room_id', 'user_id']);
SELECT fk_ok('osv', 'point_totals', 'user_id', 'osv', 'users', 'id');
SELECT has_trigger('osv', 'points', 'append_only', 'trigger append_only on osv.points');
SELECT has_trigger('osv', 'points', 'add_to_total', 'trigger add_to_total on osv.points');
SELECT has_trigger('osv', 'quizzes', 'check_questions', 'trigger check_questions on osv.quizzes');
SELECT has_trigger('osv', 'badges', 'check_criteria', 'trigger check_criteria on osv.badges');

-- a small flow
SELECT lives_ok($$SELECT osv.upsert_auth0_user('{"sub": "auth0|tap1", "email": "tap1@example.org", "name": "Tap One"}')$$, 'a user signs in');
SELECT lives_ok($$SELECT osv.upsert_auth0_user('{"sub": "auth0|tap2", "email": "tap2@example.org", "name": "Tap Two"}')$$, 'another user signs in');
SELECT is((SELECT osv.upsert_auth0_user('{"sub": "auth0|tap1", "email": "tap1@example.org"}')),
		  (SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap1'), 'signing in again returns the same id');
SELECT lives_ok($$SELECT osv.create_quiz((SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap1'), 'Tap quiz',
	'[{"id": "q", "prompt": "Yes?", "type": "single", "choices": [{"id": "y", "text": "Yes"}, {"id": "n", "text": "No"}],
	  "correct": ["y"], "points": 7}]')$$, 'a quiz is written');
SELECT results_eq(
	$$SELECT score, max_score, passed, rewarded FROM osv.submit_answer((SELECT id FROM osv.quizzes WHERE title = 'Tap quiz'),
		(SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap2'), '{"q": "y"}')$$,
	$$VALUES (7, 7, true, true)$$, 'a passing first attempt is graded and rewarded');
SELECT is((SELECT points FROM osv.point_totals t JOIN osv.users u ON u.id = t.user_id WHERE u.auth0_id = 'auth0|tap2'),
		  7::bigint, 'the total holds the reward');
SELECT results_eq($$SELECT name, points FROM osv.leaderboard(1)$$, $$VALUES ('Tap Two'::text, 7::bigint)$$, 'the leaderboard shows the user');

-- SQLSTATEs of the errors
SELECT throws_ok($$SELECT osv.upsert_auth0_user('[]')$$, '22023', NULL, 'non-object profile: invalid_parameter_value');
SELECT throws_ok($$SELECT osv.upsert_auth0_user('{"email": "x@example.org"}')$$, '22023', NULL, 'no identity: invalid_parameter_value');
SELECT throws_ok($$SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "TAP1@example.org"}')$$, '23505', NULL, 'taken email: unique_violation');
SELECT throws_ok($$SELECT osv.log_activity(-1, 'page.view')$$, 'P0002', NULL, 'unknown user: no_data_found');
SELECT throws_ok($$SELECT osv.submit_answer((SELECT id FROM osv.quizzes WHERE title = 'Tap quiz'),
	(SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap2'), '{"zz": "y"}')$$, '22023', NULL, 'unknown question: invalid_parameter_value');
SELECT throws_ok($$UPDATE osv.quizzes SET questions = '[{"id": "q"}]' WHERE title = 'Tap quiz'$$, '23514', NULL, 'bad question: check_violation');
SELECT throws_ok($$INSERT INTO osv.badges (slug, name, criteria) VALUES ('tap', 'Tap', '{"logins_at_least": 1}')$$, '23514', NULL, 'bad criterion: check_violation');
SELECT throws_ok($$UPDATE osv.points SET amount = 1$$, '2F003', NULL, 'ledger update: prohibited_sql_statement_attempted');
SELECT throws_ok($$DELETE FROM osv.points$$, '2F003', NULL, 'ledger delete: prohibited_sql_statement_attempted');
SELECT throws_ok($$SELECT osv.award_points((SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap2'), 0, 'x')$$, '22023', NULL, 'zero points: invalid_parameter_value');
SELECT throws_ok($$SELECT osv.join_room(-1, (SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap2'))$$, 'P0002', NULL, 'unknown room: no_data_found');
SELECT lives_ok($$SELECT osv.soft_delete('osv.users', (SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap2'))$$, 'a user is trashed');
SELECT throws_ok($$SELECT osv.award_points((SELECT id FROM osv.users WHERE auth0_id = 'auth0|tap2'), 1, 'x')$$, '55000', NULL, 'trashed user: object_not_in_prerequisite_state');

SELECT * FROM finish();
ROLLBACK;
