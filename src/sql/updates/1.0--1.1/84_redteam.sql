
/* ------------------------------------------------------------------------
 * A trashed room or quiz is visible only to its owner (DESIGN.md section
 * 9): osv.touch_room (and so join_room, leave_room, room_heartbeat) and
 * osv.submit_answer, which run as the extension owner, tell a session that
 * may not act for the owner that it does not exist, as row-level security
 * does, rather than that it is trashed.  The bodies are those of
 * src/sql/rooms.sql and src/sql/quiz.sql; SECURITY DEFINER is set again by
 * 90_roles.sql.
 * ------------------------------------------------------------------------
 */

CREATE OR REPLACE FUNCTION osv.touch_room(room_id bigint, user_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	owner_id bigint;
BEGIN
	IF room_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'room_id and user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM osv.require_live_user(touch_room.user_id);
	UPDATE osv.rooms r SET last_activity_at = now() WHERE r.id = touch_room.room_id AND r.deleted_at IS NULL;
	IF NOT FOUND THEN
		SELECT r.user_id INTO owner_id FROM osv.rooms r WHERE r.id = touch_room.room_id;
		IF FOUND THEN
			BEGIN
				PERFORM osv.check_acting_user(owner_id);
				RAISE EXCEPTION 'room % is trashed', room_id USING ERRCODE = 'object_not_in_prerequisite_state';
			EXCEPTION WHEN insufficient_privilege THEN
				NULL;
			END;
		END IF;
		RAISE EXCEPTION 'room % does not exist', room_id USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION osv.submit_answer(quiz_id bigint, user_id bigint, responses jsonb)
RETURNS osv.answers
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	quiz record;
	problem text;
	earned integer;
	available integer;
	is_passed boolean;
	reward boolean;
	result osv.answers;
BEGIN
	IF quiz_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'quiz_id and user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF submit_answer.responses IS NULL OR jsonb_typeof(submit_answer.responses) <> 'object' THEN
		RAISE EXCEPTION 'responses must be a JSON object mapping question ids to choice ids'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example {"q1": "b", "q2": ["a", "c"]}.';
	END IF;
	SELECT q.questions, q.pass_percent, q.user_id AS author_id, q.deleted_at IS NOT NULL AS trashed
	INTO quiz FROM osv.quizzes q WHERE q.id = submit_answer.quiz_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'quiz % does not exist', quiz_id USING ERRCODE = 'no_data_found';
	ELSIF quiz.trashed THEN
		/* Visible only to its author: to others it does not exist (as to row-level security). */
		BEGIN
			PERFORM osv.check_acting_user(quiz.author_id);
		EXCEPTION WHEN insufficient_privilege THEN
			RAISE EXCEPTION 'quiz % does not exist', quiz_id USING ERRCODE = 'no_data_found';
		END;
		RAISE EXCEPTION 'quiz % is trashed', quiz_id USING ERRCODE = 'object_not_in_prerequisite_state';
	ELSIF jsonb_array_length(quiz.questions) = 0 THEN
		RAISE EXCEPTION 'quiz % has no questions', quiz_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	PERFORM osv.require_live_user(submit_answer.user_id);

	/*
	 * Grade every response in one statement.  Of several problems the least
	 * message (in C order) is reported, so the error is deterministic.
	 */
	SELECT min(g.problem COLLATE "C"), coalesce(sum(g.earned), 0)
	INTO problem, earned
	FROM (
		SELECT CASE
				WHEN r.question IS NULL THEN
					format('quiz %s has no question "%s"', submit_answer.quiz_id, r.key)
				WHEN r.picked IS NULL OR EXISTS (SELECT FROM jsonb_array_elements(r.picked) e WHERE jsonb_typeof(e) <> 'string') THEN
					format('response to question "%s" is not a choice id or an array of choice ids', r.key)
				WHEN r.question->>'type' = 'single' AND jsonb_array_length(r.picked) > 1 THEN
					format('response to single-choice question "%s" names more than one choice', r.key)
				WHEN (SELECT count(DISTINCT e) FROM jsonb_array_elements(r.picked) e) <> jsonb_array_length(r.picked) THEN
					format('response to question "%s" names a choice more than once', r.key)
				ELSE
					(SELECT format('response to question "%s" names unrecognized choice "%s"', r.key, e #>> '{}')
					 FROM jsonb_array_elements(r.picked) e
					 WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(r.question->'choices') c WHERE c->'id' = e)
					 LIMIT 1)
			   END AS problem,
			   CASE WHEN r.picked @> (r.question->'correct') AND (r.question->'correct') @> r.picked
					THEN coalesce((r.question->>'points')::integer, 1) ELSE 0 END AS earned
		FROM (
			SELECT rs.key, q.value AS question,
				   CASE jsonb_typeof(rs.value) WHEN 'string' THEN jsonb_build_array(rs.value)
											   WHEN 'array' THEN rs.value END AS picked
			FROM jsonb_each(submit_answer.responses) rs
			LEFT JOIN jsonb_array_elements(quiz.questions) q ON q.value->>'id' = rs.key
		) r
	) g;
	IF problem IS NOT NULL THEN
		RAISE EXCEPTION '%', problem USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT sum(coalesce((q->>'points')::integer, 1)) INTO available FROM jsonb_array_elements(quiz.questions) q;

	is_passed := earned * 100 >= quiz.pass_percent * available;
	reward := is_passed AND earned > 0 AND quiz.author_id <> submit_answer.user_id
		AND NOT EXISTS (SELECT FROM osv.answers a
						WHERE a.quiz_id = submit_answer.quiz_id AND a.user_id = submit_answer.user_id AND a.rewarded);
	IF reward THEN
		/* A concurrent first pass may win the index; then this one is a plain attempt. */
		INSERT INTO osv.answers AS a (quiz_id, user_id, responses, score, max_score, passed, rewarded)
		VALUES (submit_answer.quiz_id, submit_answer.user_id, submit_answer.responses, earned, available, true, true)
		ON CONFLICT (quiz_id, user_id) WHERE rewarded DO NOTHING
		RETURNING a.* INTO result;
		reward := FOUND;
	END IF;
	IF NOT reward THEN
		INSERT INTO osv.answers AS a (quiz_id, user_id, responses, score, max_score, passed, rewarded)
		VALUES (submit_answer.quiz_id, submit_answer.user_id, submit_answer.responses, earned, available, is_passed, false)
		RETURNING a.* INTO result;
	END IF;
	IF reward THEN
		PERFORM osv.award_points(submit_answer.user_id, earned, 'quiz:' || submit_answer.quiz_id);
	END IF;
	PERFORM osv.log_activity(submit_answer.user_id, 'quiz.submitted',
							 jsonb_build_object('quiz_id', submit_answer.quiz_id, 'answer_id', result.id,
												'score', earned, 'max_score', available, 'passed', is_passed));
	RETURN result;
END
$$;
