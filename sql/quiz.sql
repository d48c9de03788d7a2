--
-- Quizzes: the question format, checked on write, and osv.submit_answer().
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse
SELECT osv.upsert_auth0_user('{"sub": "auth0|tess", "email": "tess@example.org", "name": "Tess", "app_metadata": {"roles": ["teacher"]}}') AS tess \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|sam", "email": "sam@example.org", "name": "Sam"}') AS sam \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|kim", "email": "kim@example.org", "name": "Kim"}') AS kim \gset

-- a valid quiz: one single-choice question worth 2 points, one multiple-choice worth 1 (default)
INSERT INTO osv.quizzes (user_id, title, pass_percent, questions) VALUES (:tess, 'Geography and numbers', 60, '[
	{"id": "capital", "prompt": "Capital of France?", "type": "single",
	 "choices": [{"id": "a", "text": "Paris"}, {"id": "b", "text": "Lyon"}, {"id": "c", "text": "Nice"}],
	 "correct": ["a"], "points": 2, "explanation": "Paris has been the capital since 987."},
	{"id": "primes", "prompt": "Which are prime?", "type": "multiple",
	 "choices": [{"id": "a", "text": "2"}, {"id": "b", "text": "4"}, {"id": "c", "text": "5"}],
	 "correct": ["a", "c"]}]') RETURNING id AS quiz \gset
-- a draft quiz with no questions can be stored
INSERT INTO osv.quizzes (user_id, title) VALUES (:tess, 'Draft') RETURNING id AS draft \gset

-- the format is checked on insert and on update; errors name the question
CREATE FUNCTION pg_temp.q(patch jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_array('{"id": "q1", "prompt": "Pick one", "type": "single",
		"choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correct": ["a"]}'::jsonb || patch)
$$;
UPDATE osv.quizzes SET questions = '[1]' WHERE id = :draft;
UPDATE osv.quizzes SET questions = '[{"prompt": "No id", "type": "single"}]' WHERE id = :draft;
UPDATE osv.quizzes SET questions = '[{"id": "", "prompt": "Empty id"}]' WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{}') || pg_temp.q('{}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"hint": "think"}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"prompt": "  "}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"prompt": 7}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"explanation": ["x"]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"type": "essay"}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"type": null}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"points": 0}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"points": 1.5}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"points": "3"}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"points": 1001}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"choices": [{"id": "a", "text": "A"}]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"choices": {"a": "A", "b": "B"}}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"choices": [{"id": "a", "text": "A"}, "B"]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"choices": [{"id": "a", "text": "A"}, {"id": "b"}]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B", "correct": true}]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"choices": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": "a"}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": [1]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": ["z"]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": ["a", "a"], "type": "multiple"}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": ["a", "b"]}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": []}') WHERE id = :draft;
UPDATE osv.quizzes SET questions = pg_temp.q('{"correct": [], "type": "multiple"}') WHERE id = :draft;
UPDATE osv.quizzes SET pass_percent = 0 WHERE id = :draft;
INSERT INTO osv.quizzes (user_id, title, questions) VALUES (:tess, 'Bad', pg_temp.q('{"type": "essay"}'));
-- the second question is the one named
UPDATE osv.quizzes SET questions = pg_temp.q('{}') || jsonb_build_array(pg_temp.q('{"id": "q2", "correct": ["c"]}')->0) WHERE id = :draft;
-- nothing of that was stored
SELECT title, jsonb_array_length(questions) AS questions FROM osv.quizzes ORDER BY id;
-- direct use of the checker
SELECT osv.check_quiz_questions(pg_temp.q('{"type": "multiple", "correct": ["a", "b"]}'));
SELECT osv.check_quiz_questions('{}');

-- grading: single exact choice (a string or a one-element array), multiple exact set, left out scores 0;
-- 2 of 3 points = 67% passes (pass_percent 60): the first passing attempt earns its score
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{"capital": "b", "primes": ["a"]}');
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{"capital": ["a"]}');
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{"primes": ["c", "a"]}');
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{}');
-- every attempt is stored and graded; later passing attempts earn nothing, not even a better score
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{"capital": "a", "primes": ["a", "b"]}');
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{"capital": "a", "primes": ["a", "c"]}');
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :sam, '{"capital": "a", "primes": []}');
-- the author earns nothing from their own quiz
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :tess, '{"capital": "a", "primes": ["a", "c"]}');
-- the result is the stored row
SELECT a.responses, a.score, a.max_score, a.passed, a.rewarded, u.name
FROM osv.answers a JOIN osv.users u ON u.id = a.user_id ORDER BY a.id;
SELECT u.name, p.amount, p.reason = 'quiz:' || :quiz AS reason_is_quiz FROM osv.points p JOIN osv.users u ON u.id = p.user_id ORDER BY p.id;
SELECT u.name, l.event_type, l.properties - 'quiz_id' - 'answer_id' AS properties
FROM osv.activity_logs l JOIN osv.users u ON u.id = l.user_id ORDER BY l.id;

-- a quiz changed later is graded against its current questions
UPDATE osv.quizzes SET questions = questions || '[{"id": "sky", "prompt": "Colour of the sky?", "type": "single",
	"choices": [{"id": "blue", "text": "Blue"}, {"id": "green", "text": "Green"}], "correct": ["blue"], "points": 3}]' WHERE id = :quiz;
SELECT score, max_score, passed, rewarded FROM osv.submit_answer(:quiz, :kim, '{"sky": "blue", "capital": "a"}');

-- errors: malformed responses, unknown questions and choices, missing or trashed quiz or user
SELECT osv.submit_answer(:quiz, :kim, NULL);
SELECT osv.submit_answer(:quiz, :kim, '["a"]');
SELECT osv.submit_answer(:quiz, :kim, '{"nope": "a"}');
SELECT osv.submit_answer(:quiz, :kim, '{"capital": 1}');
SELECT osv.submit_answer(:quiz, :kim, '{"capital": {"id": "a"}}');
SELECT osv.submit_answer(:quiz, :kim, '{"primes": ["a", 2]}');
SELECT osv.submit_answer(:quiz, :kim, '{"capital": ["a", "b"]}');
SELECT osv.submit_answer(:quiz, :kim, '{"primes": ["a", "a"]}');
SELECT osv.submit_answer(:quiz, :kim, '{"capital": "z"}');
SELECT osv.submit_answer(:quiz, :kim, '{"primes": ["a", "x"]}');
SELECT osv.submit_answer(NULL, :kim, '{}');
SELECT osv.submit_answer(999999, :kim, '{}');
SELECT osv.submit_answer(:quiz, 999999, '{}');
SELECT osv.submit_answer(:draft, :kim, '{}');
SELECT osv.soft_delete('osv.users', :kim);
SELECT osv.submit_answer(:quiz, :kim, '{}');
SELECT osv.soft_delete('osv.quizzes', :quiz);
SELECT osv.submit_answer(:quiz, :sam, '{}');
-- none of them stored anything
SELECT count(*) AS answers FROM osv.answers;

-- one reward per user and quiz is enforced by the index, also for plain DML
SELECT osv.restore('osv.quizzes', :quiz);
INSERT INTO osv.answers (quiz_id, user_id, responses, score, max_score, passed, rewarded)
VALUES (:quiz, :sam, '{}', 6, 6, true, true);

-- osv.create_quiz(): the checked and logged way to write a quiz
SELECT osv.restore('osv.users', :kim);
SELECT osv.register_upload(:tess, 'osv-docs', 'tess/notes.pdf', 'application/pdf', 10, repeat('a', 64)) AS doc \gset
SELECT osv.create_quiz(:tess, ' From notes ', pg_temp.q('{}'), :doc, 50) AS made \gset
SELECT title, document_id = :doc AS on_doc, pass_percent, jsonb_array_length(questions) AS questions FROM osv.quizzes WHERE id = :made;
SELECT event_type, properties->'questions' AS questions FROM osv.activity_logs WHERE event_type = 'quiz.created';
SELECT osv.create_quiz(:tess, 'Bad', pg_temp.q('{"points": -1}'));
SELECT osv.create_quiz(:tess, 'No', NULL);
SELECT osv.create_quiz(:tess, '  ', '[]');
SELECT osv.create_quiz(999999, 'No user', '[]');
SELECT osv.create_quiz(:tess, 'No document', '[]', 999999);
SELECT osv.create_quiz(:tess, 'Bad pass mark', '[]', NULL, 101);
SELECT osv.soft_delete('osv.documents', :doc);
SELECT osv.create_quiz(:tess, 'Trashed document', '[]', :doc);
SELECT osv.soft_delete('osv.users', :tess);
SELECT osv.create_quiz(:tess, 'Trashed user', '[]');
SELECT count(*) AS quizzes FROM osv.quizzes;
