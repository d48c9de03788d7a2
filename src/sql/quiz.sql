
/* src/sql/quiz.sql: the quiz domain (quizzes, answers) */

CREATE TABLE osv.quizzes (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	document_id bigint,
	title text NOT NULL,
	questions jsonb NOT NULL DEFAULT '[]',
	pass_percent integer NOT NULL DEFAULT 60,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT quizzes_pkey PRIMARY KEY (id),
	CONSTRAINT quizzes_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT quizzes_document_id_fkey FOREIGN KEY (document_id) REFERENCES osv.documents (id) ON DELETE CASCADE,
	CONSTRAINT quizzes_title_check CHECK (pg_catalog.btrim(title) OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT quizzes_questions_check CHECK (pg_catalog.jsonb_typeof(questions) OPERATOR(pg_catalog.=) 'array'),
	CONSTRAINT quizzes_pass_percent_check CHECK (pass_percent OPERATOR(pg_catalog.>=) 1 AND pass_percent OPERATOR(pg_catalog.<=) 100)
);
COMMENT ON TABLE osv.quizzes IS 'quiz written by a user, optionally from a document';
COMMENT ON COLUMN osv.quizzes.id IS 'surrogate key';
COMMENT ON COLUMN osv.quizzes.user_id IS 'author (osv.users)';
COMMENT ON COLUMN osv.quizzes.document_id IS 'document the quiz is about (osv.documents), if any';
COMMENT ON COLUMN osv.quizzes.title IS 'title shown to users';
COMMENT ON COLUMN osv.quizzes.questions IS 'the questions, a JSON array in the format checked by osv.check_quiz_questions()';
COMMENT ON COLUMN osv.quizzes.pass_percent IS 'share of the points, in percent, that an attempt needs to pass';
COMMENT ON COLUMN osv.quizzes.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.quizzes.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.quizzes.deleted_at IS 'when the quiz was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.quizzes.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX quizzes_user_id_created_at_idx ON osv.quizzes (user_id, created_at);
CREATE INDEX quizzes_document_id_idx ON osv.quizzes (document_id);
CREATE INDEX quizzes_created_at_idx ON osv.quizzes (created_at);

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.quizzes
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id, document_id ON osv.quizzes
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users', 'document_id', 'osv.documents');
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.quizzes
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete('answers', 'quiz_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.quizzes', 5);

CREATE TABLE osv.answers (
	id bigint GENERATED ALWAYS AS IDENTITY,
	quiz_id bigint NOT NULL,
	user_id bigint NOT NULL,
	responses jsonb NOT NULL,
	score integer,
	max_score integer,
	passed boolean,
	rewarded boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT answers_pkey PRIMARY KEY (id),
	CONSTRAINT answers_quiz_id_fkey FOREIGN KEY (quiz_id) REFERENCES osv.quizzes (id) ON DELETE CASCADE,
	CONSTRAINT answers_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT answers_score_check CHECK (score OPERATOR(pg_catalog.>=) 0 AND score OPERATOR(pg_catalog.<=) max_score)
);
COMMENT ON TABLE osv.answers IS 'one attempt of a user at a quiz, with its grade';
COMMENT ON COLUMN osv.answers.id IS 'surrogate key';
COMMENT ON COLUMN osv.answers.quiz_id IS 'quiz answered (osv.quizzes)';
COMMENT ON COLUMN osv.answers.user_id IS 'user who answered (osv.users)';
COMMENT ON COLUMN osv.answers.responses IS 'the responses as submitted';
COMMENT ON COLUMN osv.answers.score IS 'points scored; NULL until graded';
COMMENT ON COLUMN osv.answers.max_score IS 'points available in the quiz when it was answered';
COMMENT ON COLUMN osv.answers.passed IS 'whether the score reached the quiz''s pass mark; NULL until graded';
COMMENT ON COLUMN osv.answers.rewarded IS 'whether this attempt earned the user points (only the first passing one does)';
COMMENT ON COLUMN osv.answers.created_at IS 'when the answer was submitted';
COMMENT ON COLUMN osv.answers.deleted_at IS 'when the answer was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.answers.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX answers_quiz_id_created_at_idx ON osv.answers (quiz_id, created_at);
CREATE INDEX answers_user_id_created_at_idx ON osv.answers (user_id, created_at);
CREATE INDEX answers_user_id_quiz_id_passed_idx ON osv.answers (user_id, quiz_id) WHERE passed AND deleted_at IS NULL;
CREATE UNIQUE INDEX answers_rewarded_key ON osv.answers (quiz_id, user_id) WHERE rewarded;

CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, quiz_id, user_id ON osv.answers
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('quiz_id', 'osv.quizzes', 'user_id', 'osv.users');
INSERT INTO osv.soft_delete_tables VALUES ('osv.answers', 6);

/* ------------------------------------------------------------------------
 * The question format
 *
 * quizzes.questions is a JSON array of questions; each question is an
 * object with the keys
 *   id        text, unique within the quiz (responses refer to it)
 *   prompt    text shown to the user, not empty
 *   type      "single" (exactly one correct choice) or "multiple" (one or
 *             more correct choices; the response must name exactly that
 *             set)
 *   choices   array of at least two {"id": text, "text": text}, choice ids
 *             unique within the question
 *   correct   array of the ids of the correct choices
 *   points    positive integer up to 1000, default 1
 *   explanation  optional text shown after answering
 * and nothing else.  An empty array is a draft: it can be stored, not
 * answered.  The trigger check_questions runs osv.check_quiz_questions()
 * whenever questions are written; its errors name the question.
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.check_quiz_questions(questions jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	question jsonb;
	pos bigint;
	qid text;
	qtype text;
	choice jsonb;
	cpos bigint;
	choice_ids text[];
	seen text[] := '{}';
	correct_id jsonb;
	bad_key text;
	ncorrect integer;
BEGIN
	IF questions IS NULL OR jsonb_typeof(questions) <> 'array' THEN
		RAISE EXCEPTION 'questions of a quiz must be a JSON array'
			USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
	END IF;
	FOR question, pos IN SELECT e.value, e.ordinality FROM jsonb_array_elements(questions) WITH ORDINALITY e LOOP
		IF jsonb_typeof(question) <> 'object' THEN
			RAISE EXCEPTION 'question % of the quiz is not a JSON object', pos
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
		IF jsonb_typeof(question->'id') IS DISTINCT FROM 'string' OR btrim(question->>'id') = '' THEN
			RAISE EXCEPTION 'question % of the quiz has no id', pos
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions',
					  HINT = 'Each question needs an "id" string, unique within the quiz.';
		END IF;
		qid := question->>'id';
		IF qid = ANY (seen) THEN
			RAISE EXCEPTION 'question id "%" appears more than once in the quiz', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
		seen := seen || qid;
		SELECT k INTO bad_key FROM jsonb_object_keys(question) k
		WHERE k <> ALL (ARRAY['id', 'prompt', 'type', 'choices', 'correct', 'points', 'explanation'])
		ORDER BY k LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'question "%" has unrecognized key "%"', qid, bad_key
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions',
					  HINT = 'A question has the keys id, prompt, type, choices, correct, points and explanation.';
		END IF;
		IF jsonb_typeof(question->'prompt') IS DISTINCT FROM 'string' OR btrim(question->>'prompt') = '' THEN
			RAISE EXCEPTION 'question "%" has no prompt', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
		IF jsonb_typeof(question->'explanation') NOT IN ('string', 'null') THEN
			RAISE EXCEPTION 'explanation of question "%" is not a string', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
		qtype := CASE WHEN jsonb_typeof(question->'type') = 'string' THEN question->>'type' END;
		IF qtype IS NULL OR qtype NOT IN ('single', 'multiple') THEN
			RAISE EXCEPTION 'question "%" has invalid type %', qid, coalesce((question->'type')::text, 'null')
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions',
					  HINT = 'The type of a question is "single" or "multiple".';
		END IF;
		IF jsonb_typeof(question->'points') NOT IN ('number', 'null')
			OR (question->>'points')::numeric NOT BETWEEN 1 AND 1000
			OR (question->>'points')::numeric <> trunc((question->>'points')::numeric) THEN
			RAISE EXCEPTION 'points of question "%" must be an integer between 1 and 1000', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;

		IF jsonb_typeof(question->'choices') IS DISTINCT FROM 'array' OR jsonb_array_length(question->'choices') < 2 THEN
			RAISE EXCEPTION 'question "%" needs an array of at least two choices', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
		choice_ids := '{}';
		FOR choice, cpos IN SELECT e.value, e.ordinality FROM jsonb_array_elements(question->'choices') WITH ORDINALITY e LOOP
			IF jsonb_typeof(choice) <> 'object'
				OR jsonb_typeof(choice->'id') IS DISTINCT FROM 'string' OR btrim(choice->>'id') = ''
				OR jsonb_typeof(choice->'text') IS DISTINCT FROM 'string' OR btrim(choice->>'text') = ''
				OR EXISTS (SELECT FROM jsonb_object_keys(choice) k WHERE k NOT IN ('id', 'text')) THEN
				RAISE EXCEPTION 'choice % of question "%" is not an object with an id and a text', cpos, qid
					USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions',
						  HINT = 'A choice looks like {"id": "a", "text": "Paris"}.';
			END IF;
			IF choice->>'id' = ANY (choice_ids) THEN
				RAISE EXCEPTION 'choice id "%" appears more than once in question "%"', choice->>'id', qid
					USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
			END IF;
			choice_ids := choice_ids || (choice->>'id');
		END LOOP;

		IF jsonb_typeof(question->'correct') IS DISTINCT FROM 'array'
			OR EXISTS (SELECT FROM jsonb_array_elements(question->'correct') c WHERE jsonb_typeof(c) <> 'string') THEN
			RAISE EXCEPTION 'question "%" has no array of correct choice ids', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions',
					  HINT = 'List the ids of the correct choices, such as "correct": ["a"].';
		END IF;
		FOR correct_id IN SELECT c FROM jsonb_array_elements(question->'correct') c LOOP
			IF (correct_id #>> '{}') <> ALL (choice_ids) THEN
				RAISE EXCEPTION 'correct choice "%" of question "%" is not one of its choices', correct_id #>> '{}', qid
					USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
			END IF;
		END LOOP;
		SELECT count(DISTINCT c) INTO ncorrect FROM jsonb_array_elements(question->'correct') c;
		IF ncorrect <> jsonb_array_length(question->'correct') THEN
			RAISE EXCEPTION 'question "%" lists a correct choice more than once', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
		IF qtype = 'single' AND ncorrect <> 1 THEN
			RAISE EXCEPTION 'single-choice question "%" must have exactly one correct choice', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		ELSIF qtype = 'multiple' AND ncorrect < 1 THEN
			RAISE EXCEPTION 'multiple-choice question "%" must have at least one correct choice', qid
				USING ERRCODE = 'check_violation', TABLE = 'quizzes', COLUMN = 'questions';
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION osv.check_quiz_questions(jsonb) IS 'raise an error naming the first question of a quiz that breaks the question format';

CREATE FUNCTION osv.quizzes_check_questions()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	/* A non-array is left to quizzes_questions_check. */
	IF jsonb_typeof(NEW.questions) = 'array' THEN
		PERFORM osv.check_quiz_questions(NEW.questions);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.quizzes_check_questions() IS 'trigger: check the question format of a quiz being written';

CREATE TRIGGER check_questions BEFORE INSERT OR UPDATE OF questions ON osv.quizzes
	FOR EACH ROW EXECUTE FUNCTION osv.quizzes_check_questions();

/* ------------------------------------------------------------------------
 * Answering
 *
 * Responses are a JSON object mapping question ids to the chosen choice
 * ids: a string or an array of one string for a single-choice question, an
 * array of strings for a multiple-choice one, e.g.
 *     {"q1": "b", "q2": ["a", "c"]}
 * A question left out (or answered with []) scores nothing.  A question
 * scores its points when the chosen set equals its correct set exactly;
 * there is no partial credit.  An attempt passes when its score reaches
 * pass_percent of the quiz's points.
 *
 * Attempts policy: every attempt is stored and graded; the first passing
 * attempt of a user at a quiz earns its score in points (osv.award_points,
 * reason "quiz:<id>"), later attempts earn nothing, and authors earn
 * nothing from their own quizzes.  The unique index answers_rewarded_key
 * guarantees one reward per user and quiz even under concurrent attempts.
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.submit_answer(quiz_id bigint, user_id bigint, responses jsonb)
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
		RAISE EXCEPTION 'quiz % does not exist', quiz_id USING ERRCODE = 'foreign_key_violation';
	ELSIF quiz.trashed THEN
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
COMMENT ON FUNCTION osv.submit_answer(bigint, bigint, jsonb) IS 'grade and store an attempt at a quiz; the first passing attempt earns points';

/*
 * osv.create_quiz(): write a quiz for a live user (and a live document of
 * theirs or anyone's, when given); the trigger checks the questions.
 * Returns the quiz id.  Plain INSERTs work as well; this is the checked
 * and logged path.
 */
CREATE FUNCTION osv.create_quiz(user_id bigint, title text, questions jsonb,
								document_id bigint DEFAULT NULL, pass_percent integer DEFAULT 60)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trashed boolean;
	new_id bigint;
BEGIN
	IF user_id IS NULL OR title IS NULL OR questions IS NULL OR pass_percent IS NULL THEN
		RAISE EXCEPTION 'user_id, title, questions and pass_percent must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM osv.require_live_user(create_quiz.user_id);
	IF document_id IS NOT NULL THEN
		SELECT d.deleted_at IS NOT NULL INTO trashed FROM osv.documents d WHERE d.id = create_quiz.document_id;
		IF trashed IS NULL THEN
			RAISE EXCEPTION 'document % does not exist', document_id USING ERRCODE = 'foreign_key_violation';
		ELSIF trashed THEN
			RAISE EXCEPTION 'document % is trashed', document_id USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
	END IF;
	INSERT INTO osv.quizzes (user_id, document_id, title, questions, pass_percent)
	VALUES (create_quiz.user_id, create_quiz.document_id, btrim(create_quiz.title), create_quiz.questions,
			create_quiz.pass_percent)
	RETURNING id INTO new_id;
	PERFORM osv.log_activity(create_quiz.user_id, 'quiz.created',
							 jsonb_build_object('quiz_id', new_id, 'questions', jsonb_array_length(create_quiz.questions)));
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION osv.create_quiz(bigint, text, jsonb, bigint, integer) IS 'write a quiz for a live user, checking its questions, and return its id';
