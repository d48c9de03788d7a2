
/* src/sql/quiz.sql: the quiz domain (quizzes, answers) */

CREATE TABLE osv.quizzes (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	document_id bigint,
	title text NOT NULL,
	questions jsonb NOT NULL DEFAULT '[]',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT quizzes_pkey PRIMARY KEY (id),
	CONSTRAINT quizzes_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT quizzes_document_id_fkey FOREIGN KEY (document_id) REFERENCES osv.documents (id) ON DELETE CASCADE,
	CONSTRAINT quizzes_title_check CHECK (pg_catalog.btrim(title) OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT quizzes_questions_check CHECK (pg_catalog.jsonb_typeof(questions) OPERATOR(pg_catalog.=) 'array')
);
COMMENT ON TABLE osv.quizzes IS 'quiz written by a user, optionally from a document';
COMMENT ON COLUMN osv.quizzes.id IS 'surrogate key';
COMMENT ON COLUMN osv.quizzes.user_id IS 'author (osv.users)';
COMMENT ON COLUMN osv.quizzes.document_id IS 'document the quiz is about (osv.documents), if any';
COMMENT ON COLUMN osv.quizzes.title IS 'title shown to users';
COMMENT ON COLUMN osv.quizzes.questions IS 'the questions, a JSON array';
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
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users', 'document_id', 'osv.documents');
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
COMMENT ON COLUMN osv.answers.created_at IS 'when the answer was submitted';
COMMENT ON COLUMN osv.answers.deleted_at IS 'when the answer was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.answers.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX answers_quiz_id_created_at_idx ON osv.answers (quiz_id, created_at);
CREATE INDEX answers_user_id_created_at_idx ON osv.answers (user_id, created_at);

CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, quiz_id, user_id ON osv.answers
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('quiz_id', 'osv.quizzes', 'user_id', 'osv.users');
INSERT INTO osv.soft_delete_tables VALUES ('osv.answers', 6);
