/*
 * demo/sample_data.sql: sample study data for the demo, built only through
 * osv's domain functions (as the app would call them), deterministically:
 * the same data on every run against a fresh database with osv installed.
 *
 *   psql -X -v ON_ERROR_STOP=1 -d DB -f demo/sample_data.sql
 *
 * Twelve users sign in from Auth0 (two teachers, a moderator, an admin,
 * one student opted out of logging), upload documents, write quizzes that
 * the others answer, meet in study rooms, earn points and badges.  Badges
 * are configuration, inserted as plain rows.  Everything happens in one
 * transaction: re-running it on the same database fails at once (the
 * badges exist already) and changes nothing.
 */
\set ON_ERROR_STOP on

BEGIN;

INSERT INTO osv.badges (slug, name, description, criteria) VALUES
	('welcome', 'Welcome', 'Did something on Open Study Volt', '{}'),
	('first-upload', 'First upload', 'Uploaded a first document', '{"documents_at_least": 1}'),
	('librarian', 'Librarian', 'Keeps three documents', '{"documents_at_least": 3}'),
	('quiz-taker', 'Quiz taker', 'Passed a quiz', '{"quizzes_passed_at_least": 1}'),
	('quiz-master', 'Quiz master', 'Passed three quizzes with 15 points or more', '{"quizzes_passed_at_least": 3, "points_at_least": 15}'),
	('social', 'Social learner', 'Studied in two rooms', '{"rooms_joined_at_least": 2}'),
	('high-score', 'High score', 'Reached 25 points', '{"points_at_least": 25}');

DO $$
DECLARE
	people CONSTANT text[][] := ARRAY[
		-- Auth0 id, email, name, roles
		['auth0|ada', 'ada.lovelace@example.org', 'Ada Lovelace', 'teacher'],
		['auth0|alan', 'alan.turing@example.org', 'Alan Turing', 'teacher'],
		['google-oauth2|101', 'grace.hopper@example.org', 'Grace Hopper', 'moderator'],
		['auth0|edsger', 'edsger@example.org', 'Edsger Dijkstra', 'admin'],
		['auth0|barbara', 'barbara.liskov@example.org', 'Barbara Liskov', 'student'],
		['github|2001', 'donald.knuth@example.org', 'Donald Knuth', 'student'],
		['auth0|margaret', 'margaret.hamilton@example.org', 'Margaret Hamilton', 'student'],
		['auth0|john', 'john.backus@example.org', 'John Backus', 'student'],
		['google-oauth2|102', 'frances.allen@example.org', 'Frances Allen', 'student'],
		['auth0|ken', 'ken.thompson@example.org', 'Ken Thompson', 'student'],
		['auth0|radia', 'radia.perlman@example.org', 'Radia Perlman', 'student'],
		['auth0|tim', 'tim.berners-lee@example.org', 'Tim Berners-Lee', 'student']];
	uid bigint[] := '{}';
	doc bigint[] := '{}';
	quiz bigint[] := '{}';
	room bigint[] := '{}';
	subjects CONSTANT text[] := ARRAY['algebra', 'biology', 'chemistry', 'history'];
	types CONSTANT text[] := ARRAY['application/pdf', 'audio/mpeg', 'video/mp4', 'text/markdown', 'image/png'];
	questions jsonb;
	responses jsonb;
	key text;
	n integer;
BEGIN
	/* Sign-ins. */
	FOR i IN 1 .. 12 LOOP
		uid := uid || osv.upsert_auth0_user(jsonb_build_object(
			CASE WHEN i % 2 = 0 THEN 'sub' ELSE 'user_id' END, people[i][1],
			'email', people[i][2], 'email_verified', i % 5 <> 0, 'name', people[i][3],
			'nickname', split_part(people[i][2], '.', 1),
			'picture', 'https://avatars.example.org/' || i || '.png',
			'app_metadata', jsonb_build_object('roles', jsonb_build_array(people[i][4]))));
	END LOOP;
	/* Signing in again changes nothing. */
	PERFORM osv.upsert_auth0_user(jsonb_build_object('user_id', people[1][1], 'email', people[1][2],
		'email_verified', true, 'name', people[1][3], 'picture', 'https://avatars.example.org/1.png',
		'app_metadata', jsonb_build_object('roles', jsonb_build_array(people[1][4]))));
	/* Tim opted out of activity logging in his profile settings. */
	UPDATE osv.users SET logging_opt_out = true WHERE id = uid[12];

	/* Uploads: 2 or 3 documents each for the first eight users. */
	FOR i IN 1 .. 8 LOOP
		FOR j IN 1 .. 2 + i % 2 LOOP
			n := (i + j) % 5 + 1;
			key := format('users/%s/%s-%s.%s', i, subjects[(i + j) % 4 + 1], j,
						  (ARRAY['pdf', 'mp3', 'mp4', 'md', 'png'])[n]);
			doc := doc || osv.register_upload(uid[i], 'osv-documents', key, types[n],
				(1000 * i * j + 17 * n)::bigint, encode(sha256(convert_to(key, 'UTF8')), 'hex'),
				initcap(subjects[(i + j) % 4 + 1]) || ' notes ' || j);
		END LOOP;
	END LOOP;

	/* Quizzes: each teacher writes two, on their documents; five questions each. */
	FOR q IN 1 .. 4 LOOP
		SELECT jsonb_agg(jsonb_build_object(
			'id', 'q' || g,
			'prompt', format('%s question %s', initcap(subjects[q]), g),
			'type', CASE WHEN g % 3 = 0 THEN 'multiple' ELSE 'single' END,
			'choices', jsonb_build_array(jsonb_build_object('id', 'a', 'text', 'First'),
										 jsonb_build_object('id', 'b', 'text', 'Second'),
										 jsonb_build_object('id', 'c', 'text', 'Third'),
										 jsonb_build_object('id', 'd', 'text', 'Fourth')),
			'correct', CASE WHEN g % 3 = 0 THEN jsonb_build_array('a', 'd')
							ELSE jsonb_build_array((ARRAY['a', 'b', 'c', 'd'])[(g + q) % 4 + 1]) END,
			'points', 1 + g % 2,
			'explanation', 'See the ' || subjects[q] || ' notes.') ORDER BY g)
		INTO questions FROM generate_series(1, 5) g;
		quiz := quiz || osv.create_quiz(uid[1 + (q - 1) / 2], initcap(subjects[q]) || ' check-up', questions,
										doc[1 + (q - 1) % 2 + 3 * ((q - 1) / 2)], 60);
	END LOOP;

	/*
	 * Answers: users 3 to 12 try each quiz; user i gets question g right
	 * unless (i + g + q) is divisible by 4, and retries once a failed quiz
	 * with everything right.
	 */
	FOR i IN 3 .. 12 LOOP
		FOR q IN 1 .. 4 LOOP
			CONTINUE WHEN (i + q) % 5 = 0;		/* not everyone takes every quiz */
			SELECT jsonb_object_agg(e.value->>'id',
				CASE WHEN (i + e.n + q) % 4 = 0 THEN jsonb_build_array('b')
					 WHEN e.value->>'type' = 'single' THEN e.value->'correct'->0
					 ELSE e.value->'correct' END)
			INTO responses
			FROM osv.quizzes z, jsonb_array_elements(z.questions) WITH ORDINALITY AS e(value, n)
			WHERE z.id = quiz[q];
			IF NOT (osv.submit_answer(quiz[q], uid[i], responses)).passed THEN
				SELECT jsonb_object_agg(e->>'id', e->'correct') INTO responses
				FROM osv.quizzes z, jsonb_array_elements(z.questions) e WHERE z.id = quiz[q];
				PERFORM osv.submit_answer(quiz[q], uid[i], responses);
			END IF;
		END LOOP;
	END LOOP;

	/* Rooms: three rooms; people come and go, some stay present. */
	room := room || osv.create_room(uid[1], 'Algebra study group');
	room := room || osv.create_room(uid[2], 'Exam week');
	room := room || osv.create_room(uid[5], 'Night owls');
	FOR i IN 1 .. 12 LOOP
		FOR r IN 1 .. 3 LOOP
			CONTINUE WHEN (i * r) % 4 = 1;
			PERFORM osv.join_room(room[r], uid[i]);
			PERFORM osv.room_heartbeat(room[r], uid[i]);
			IF (i + r) % 3 = 0 THEN
				PERFORM osv.leave_room(room[r], uid[i]);
			END IF;
		END LOOP;
	END LOOP;

	/* Everyday activity, bonuses and a correction. */
	FOR i IN 1 .. 12 LOOP
		PERFORM osv.log_activity(uid[i], 'session.start', jsonb_build_object('client', 'web'));
		FOR j IN 1 .. i % 4 + 1 LOOP
			PERFORM osv.log_activity(uid[i], 'page.view', jsonb_build_object('path', '/documents/' || doc[(i + j) % array_length(doc, 1) + 1]));
		END LOOP;
	END LOOP;
	PERFORM osv.award_points(uid[5], 10, 'helped in the forum');
	PERFORM osv.award_points(uid[9], 5, 'bug report');
	PERFORM osv.award_points(uid[9], -2, 'correction: duplicate bug report');
END
$$;

COMMIT;

/* What was built. */
SELECT (SELECT count(*) FROM osv.users) AS users, (SELECT count(*) FROM osv.documents) AS documents,
	   (SELECT count(*) FROM osv.quizzes) AS quizzes, (SELECT count(*) FROM osv.answers) AS answers,
	   (SELECT count(*) FROM osv.rooms) AS rooms, (SELECT count(*) FROM osv.room_participations) AS participations,
	   (SELECT count(*) FROM osv.activity_logs) AS activity_logs, (SELECT count(*) FROM osv.points) AS ledger_entries,
	   (SELECT count(*) FROM osv.awards) AS awards;
SELECT * FROM osv.leaderboard(5);
