#!/usr/bin/env bash
# bench/domain_submit_answer.sh: time of osv.submit_answer() for a
# 20-question quiz (10 single-choice, 10 multiple-choice), measured inside
# the server around each call (clock_timestamp), for N users' first
# passing attempts (points, badges and activity log included) and for N
# repeated attempts; baseline: a plain INSERT of the same graded row.
# Prints median and 90th percentile (target: median under 1 ms).
#
#   bench/domain_submit_answer.sh [attempts, default 2000]

. "$(dirname "$0")/lib.sh"
bench_start domain_submit_answer.sh "" "$@"
n=${1:-2000}

bench_psql -q -v n="$n" <<'SQL'
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|' || g, 'user' || g || '@example.org', 'User ' || g FROM generate_series(0, :n) g;
INSERT INTO osv.badges (slug, name, criteria) VALUES
	('first-pass', 'First pass', '{"quizzes_passed_at_least": 1}'),
	('five-passes', 'Five passes', '{"quizzes_passed_at_least": 5}'),
	('hundred-points', 'Hundred points', '{"points_at_least": 100}');
INSERT INTO osv.quizzes (user_id, title, questions)
SELECT (SELECT min(id) FROM osv.users), 'Twenty questions', jsonb_agg(jsonb_build_object(
	'id', 'q' || g, 'prompt', 'Question ' || g,
	'type', CASE WHEN g % 2 = 0 THEN 'multiple' ELSE 'single' END,
	'choices', '[{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}, {"id": "d", "text": "D"}]'::jsonb,
	'correct', CASE WHEN g % 2 = 0 THEN '["a", "c"]'::jsonb ELSE '["b"]'::jsonb END,
	'points', 1 + g % 3) ORDER BY g)
FROM generate_series(1, 20) g;
CREATE TABLE responses AS
SELECT jsonb_object_agg('q' || g, CASE WHEN g % 2 = 0 THEN '["c", "a"]'::jsonb WHEN g = 19 THEN '"a"'::jsonb ELSE '"b"'::jsonb END) AS r
FROM generate_series(1, 20) g;
CREATE TABLE timing (kind text, ms float8);
CREATE PROCEDURE measure(kind text) LANGUAGE plpgsql AS $$
DECLARE
	q bigint := (SELECT max(id) FROM osv.quizzes);
	r jsonb := (SELECT responses.r FROM responses);
	u bigint;
	t timestamptz;
BEGIN
	FOR u IN SELECT id FROM osv.users ORDER BY id OFFSET 1 LOOP
		t := clock_timestamp();
		IF kind = 'insert' THEN
			INSERT INTO osv.answers (quiz_id, user_id, responses, score, max_score, passed)
			VALUES (q, u, r, 38, 40, true);
		ELSE
			PERFORM osv.submit_answer(q, u, r);
		END IF;
		INSERT INTO timing VALUES (kind, extract(epoch FROM clock_timestamp() - t) * 1000);
		COMMIT;
	END LOOP;
END
$$;
CALL measure('insert');
CALL measure('first attempt');
CALL measure('repeat attempt');
SQL
bench_psql -c "SELECT kind, count(*) AS calls,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS median_ms,
	round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p90_ms
FROM timing GROUP BY kind ORDER BY min(ctid)"
