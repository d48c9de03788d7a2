/* src/sql/core.sql: schema osv and the machinery shared by every domain */

\echo Use "CREATE EXTENSION osv" to load this file. \quit

/*
 * The control file installs osv into pg_catalog (so this script runs with a
 * safe search_path) and the script creates schema osv as a member of the
 * extension: DROP EXTENSION removes it with everything in it.  Every object
 * is written schema-qualified.
 */
CREATE SCHEMA osv;
COMMENT ON SCHEMA osv IS 'Open Study Volt data layer: tables, soft deletes, retention, vector sync, search, gamification, GDPR';

CREATE FUNCTION osv.setting_interval(name text)
RETURNS interval
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_setting_interval';
COMMENT ON FUNCTION osv.setting_interval(text) IS 'value of an interval-valued osv setting, such as osv.trash_retention';

/* ------------------------------------------------------------------------
 * updated_at
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.touch_updated_at()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_touch_updated_at';
COMMENT ON FUNCTION osv.touch_updated_at() IS 'trigger: set updated_at to now() unless the statement set it';

/* ------------------------------------------------------------------------
 * Soft deletes (DESIGN.md section 4)
 *
 * A row is trashed by setting deleted_at.  Each soft-deletable table has a
 * trash_batch column: the number of the soft delete that trashed the row.
 * A row trashed directly gets a new number; the rows trashed by the
 * cascade from it share that number.  A restore brings back exactly the
 * children that carry the parent's number.  The BEFORE ROW trigger
 * osv.soft_delete_guard() (C) assigns numbers and checks parents; the
 * statement trigger osv.cascade_soft_delete() below walks the ownership
 * tree, which mirrors the ON DELETE CASCADE foreign keys.
 * ------------------------------------------------------------------------
 */
CREATE SEQUENCE osv.trash_batch_seq AS bigint;
COMMENT ON SEQUENCE osv.trash_batch_seq IS 'numbers of soft deletes; rows trashed by one cascade share one number';

CREATE FUNCTION osv.soft_delete_guard()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_soft_delete_guard';
COMMENT ON FUNCTION osv.soft_delete_guard() IS 'trigger: number soft deletes and keep live rows from referring to trashed rows';

/*
 * AFTER UPDATE FOR EACH STATEMENT, with transition tables old_rows and
 * new_rows.  Arguments: pairs of (child table in schema osv, foreign key
 * column of the child referring to this table).  Three transitions of a
 * parent row are passed on to its children:
 *   trash:      live children get the parent's deleted_at and batch;
 *   restore:    children with the parent's old batch are restored (the
 *               guard may keep one trashed if another parent is trashed);
 *   re-attribution: a trashed row whose batch changed (the guard kept it
 *               trashed for another parent) passes the new batch on to the
 *               children that carried its old one.
 * The nested UPDATEs fire the children's own triggers, so the cascade walks
 * the whole tree.
 */
CREATE FUNCTION osv.cascade_soft_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	child text;
	fk text;
BEGIN
	IF NOT EXISTS (SELECT FROM new_rows n JOIN old_rows o ON o.id = n.id
				   WHERE (o.deleted_at IS NULL) <> (n.deleted_at IS NULL)
					  OR o.trash_batch IS DISTINCT FROM n.trash_batch) THEN
		RETURN NULL;
	END IF;

	FOR i IN 0 .. TG_NARGS / 2 - 1 LOOP
		child := TG_ARGV[2 * i];
		fk := TG_ARGV[2 * i + 1];

		EXECUTE format($q$
			UPDATE osv.%1$I c
			   SET deleted_at = n.deleted_at, trash_batch = n.trash_batch
			  FROM old_rows o JOIN new_rows n ON n.id = o.id
			 WHERE o.deleted_at IS NULL AND n.deleted_at IS NOT NULL
			   AND c.%2$I = n.id AND c.deleted_at IS NULL$q$, child, fk);

		EXECUTE format($q$
			UPDATE osv.%1$I c
			   SET deleted_at = NULL, trash_batch = -c.trash_batch
			  FROM old_rows o JOIN new_rows n ON n.id = o.id
			 WHERE o.deleted_at IS NOT NULL AND n.deleted_at IS NULL
			   AND c.%2$I = n.id AND c.trash_batch = o.trash_batch$q$, child, fk);

		EXECUTE format($q$
			UPDATE osv.%1$I c
			   SET trash_batch = n.trash_batch
			  FROM old_rows o JOIN new_rows n ON n.id = o.id
			 WHERE o.deleted_at IS NOT NULL AND n.deleted_at IS NOT NULL
			   AND o.trash_batch <> n.trash_batch
			   AND c.%2$I = n.id AND c.trash_batch = o.trash_batch$q$, child, fk);
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.cascade_soft_delete() IS 'trigger: pass trash, restore and re-attribution of rows on to their children';

/*
 * The soft-deletable tables, in the order of the ownership tree.  Filled by
 * the domain files; osv.soft_delete() and osv.restore() accept only these.
 */
CREATE TABLE osv.soft_delete_tables (
	table_name regclass PRIMARY KEY,
	position integer NOT NULL UNIQUE
);
COMMENT ON TABLE osv.soft_delete_tables IS 'tables of osv that support soft deletes, parents before children';
COMMENT ON COLUMN osv.soft_delete_tables.table_name IS 'the soft-deletable table';
COMMENT ON COLUMN osv.soft_delete_tables.position IS 'place in the ownership tree: parents have smaller numbers than their children';

/* Raise the error of an unsupported table, or return its qualified name. */
CREATE FUNCTION osv.soft_delete_table(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT FROM osv.soft_delete_tables t WHERE t.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" does not support soft deletes', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Soft deletes apply to the content tables of schema osv, such as osv.documents.';
	END IF;
	RETURN tbl::text;
END
$$;
COMMENT ON FUNCTION osv.soft_delete_table(regclass) IS 'check that a table supports soft deletes and return its name';

CREATE FUNCTION osv.soft_delete(tbl regclass, id bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text := osv.soft_delete_table(tbl);
	was_live boolean;
BEGIN
	IF id IS NULL THEN
		RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format('SELECT deleted_at IS NULL FROM %s WHERE id = $1 FOR NO KEY UPDATE', name)
		INTO was_live USING id;
	IF was_live IS NULL THEN
		RAISE EXCEPTION 'row % of "%" does not exist', id, name USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT was_live THEN
		RETURN false;
	END IF;
	EXECUTE format('UPDATE %s SET deleted_at = pg_catalog.now() WHERE id = $1', name) USING id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION osv.soft_delete(regclass, bigint) IS 'trash a row and everything it owns; false if it was trashed already';

CREATE FUNCTION osv.restore(tbl regclass, id bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text := osv.soft_delete_table(tbl);
	was_live boolean;
BEGIN
	IF id IS NULL THEN
		RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format('SELECT deleted_at IS NULL FROM %s WHERE id = $1 FOR NO KEY UPDATE', name)
		INTO was_live USING id;
	IF was_live IS NULL THEN
		RAISE EXCEPTION 'row % of "%" does not exist', id, name USING ERRCODE = 'no_data_found';
	END IF;
	IF was_live THEN
		RETURN false;
	END IF;
	EXECUTE format('UPDATE %s SET deleted_at = NULL WHERE id = $1', name) USING id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION osv.restore(regclass, bigint) IS 'restore a trashed row and what its soft delete trashed with it; false if it was live';

/* src/sql/users.sql: the user domain (Auth0-synced identities) */

CREATE TABLE osv.users (
	id bigint GENERATED ALWAYS AS IDENTITY,
	auth0_id text NOT NULL,
	email text NOT NULL,
	email_verified boolean NOT NULL DEFAULT false,
	name text,
	picture_url text,
	role text NOT NULL DEFAULT 'student',
	logging_opt_out boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT users_pkey PRIMARY KEY (id),
	CONSTRAINT users_auth0_id_check CHECK (auth0_id OPERATOR(pg_catalog.<>) '' AND pg_catalog.length(auth0_id) OPERATOR(pg_catalog.<=) 255),
	CONSTRAINT users_email_check CHECK (email OPERATOR(pg_catalog.~) '^[^@[:space:]]+@[^@[:space:]]+$' AND pg_catalog.length(email) OPERATOR(pg_catalog.<=) 320),
	CONSTRAINT users_role_check CHECK (role OPERATOR(pg_catalog.=) ANY (ARRAY['student', 'teacher', 'moderator', 'admin']))
);
COMMENT ON TABLE osv.users IS 'people using the platform, synced from Auth0';
COMMENT ON COLUMN osv.users.id IS 'surrogate key';
COMMENT ON COLUMN osv.users.auth0_id IS 'Auth0 user id (the "sub" claim), unique among live users';
COMMENT ON COLUMN osv.users.email IS 'e-mail address, unique among live users regardless of case';
COMMENT ON COLUMN osv.users.email_verified IS 'whether Auth0 verified the e-mail address';
COMMENT ON COLUMN osv.users.name IS 'display name';
COMMENT ON COLUMN osv.users.picture_url IS 'URL of the profile picture';
COMMENT ON COLUMN osv.users.role IS 'platform role: student, teacher, moderator or admin';
COMMENT ON COLUMN osv.users.logging_opt_out IS 'true when the user opted out of activity logging';
COMMENT ON COLUMN osv.users.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.users.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.users.deleted_at IS 'when the user was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.users.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE UNIQUE INDEX users_auth0_id_key ON osv.users (auth0_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_email_key ON osv.users (pg_catalog.lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX users_role_idx ON osv.users (role) WHERE deleted_at IS NULL;
CREATE INDEX users_created_at_idx ON osv.users (created_at);

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.users
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch ON osv.users
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard();
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.users
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete(
		'documents', 'user_id', 'summaries', 'user_id', 'recommendations', 'user_id',
		'quizzes', 'user_id', 'answers', 'user_id', 'rooms', 'user_id',
		'room_participations', 'user_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.users', 1);

/* src/sql/documents.sql: the document and AI domain (documents, summaries, recommendations) */

CREATE TABLE osv.documents (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	type text NOT NULL,
	title text NOT NULL,
	storage_bucket text NOT NULL,
	storage_key text NOT NULL,
	content_type text,
	size_bytes bigint,
	checksum_sha256 text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT documents_pkey PRIMARY KEY (id),
	CONSTRAINT documents_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT documents_type_check CHECK (type OPERATOR(pg_catalog.=) ANY (ARRAY['pdf', 'audio', 'video', 'image', 'text', 'other'])),
	CONSTRAINT documents_title_check CHECK (pg_catalog.btrim(title) OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT documents_storage_bucket_check CHECK (storage_bucket OPERATOR(pg_catalog.~) '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'),
	CONSTRAINT documents_storage_key_check CHECK (storage_key OPERATOR(pg_catalog.<>) '' AND pg_catalog.octet_length(storage_key) OPERATOR(pg_catalog.<=) 1024),
	CONSTRAINT documents_size_bytes_check CHECK (size_bytes OPERATOR(pg_catalog.>=) 0),
	CONSTRAINT documents_checksum_sha256_check CHECK (checksum_sha256 OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$')
);
COMMENT ON TABLE osv.documents IS 'uploaded study material; the file itself lives in object storage (MinIO)';
COMMENT ON COLUMN osv.documents.id IS 'surrogate key';
COMMENT ON COLUMN osv.documents.user_id IS 'owner (osv.users)';
COMMENT ON COLUMN osv.documents.type IS 'kind of material: pdf, audio, video, image, text or other';
COMMENT ON COLUMN osv.documents.title IS 'title shown to users';
COMMENT ON COLUMN osv.documents.storage_bucket IS 'object storage bucket holding the file';
COMMENT ON COLUMN osv.documents.storage_key IS 'object key of the file in its bucket';
COMMENT ON COLUMN osv.documents.content_type IS 'MIME type of the file';
COMMENT ON COLUMN osv.documents.size_bytes IS 'size of the file in bytes';
COMMENT ON COLUMN osv.documents.checksum_sha256 IS 'SHA-256 of the file, lower-case hex';
COMMENT ON COLUMN osv.documents.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.documents.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.documents.deleted_at IS 'when the document was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.documents.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX documents_user_id_created_at_idx ON osv.documents (user_id, created_at);
CREATE INDEX documents_type_idx ON osv.documents (type) WHERE deleted_at IS NULL;
CREATE INDEX documents_created_at_idx ON osv.documents (created_at);
CREATE UNIQUE INDEX documents_storage_object_key ON osv.documents (storage_bucket, storage_key) WHERE deleted_at IS NULL;

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.documents
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id ON osv.documents
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users');
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.documents
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete(
		'summaries', 'document_id', 'quizzes', 'document_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.documents', 2);

CREATE TABLE osv.summaries (
	id bigint GENERATED ALWAYS AS IDENTITY,
	document_id bigint NOT NULL,
	user_id bigint NOT NULL,
	topic text,
	content text NOT NULL,
	embedding real[],
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT summaries_pkey PRIMARY KEY (id),
	CONSTRAINT summaries_document_id_fkey FOREIGN KEY (document_id) REFERENCES osv.documents (id) ON DELETE CASCADE,
	CONSTRAINT summaries_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT summaries_content_check CHECK (pg_catalog.btrim(content) OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE osv.summaries IS 'AI-generated summary of a document (one per document), with its embedding for Qdrant';
COMMENT ON COLUMN osv.summaries.id IS 'surrogate key; also the id of the Qdrant point';
COMMENT ON COLUMN osv.summaries.document_id IS 'summarized document (osv.documents), one live summary per document';
COMMENT ON COLUMN osv.summaries.user_id IS 'owner (osv.users), taken from the document when not given';
COMMENT ON COLUMN osv.summaries.topic IS 'topic label used to filter searches';
COMMENT ON COLUMN osv.summaries.content IS 'summary text';
COMMENT ON COLUMN osv.summaries.embedding IS 'embedding of the summary; NULL means not indexed';
COMMENT ON COLUMN osv.summaries.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.summaries.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.summaries.deleted_at IS 'when the summary was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.summaries.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE UNIQUE INDEX summaries_document_id_key ON osv.summaries (document_id) WHERE deleted_at IS NULL;
CREATE INDEX summaries_document_id_created_at_idx ON osv.summaries (document_id, created_at);
CREATE INDEX summaries_user_id_created_at_idx ON osv.summaries (user_id, created_at);
CREATE INDEX summaries_created_at_idx ON osv.summaries (created_at);

/* Summaries take their owner from the document unless one is given. */
CREATE FUNCTION osv.summaries_fill_user_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT d.user_id INTO NEW.user_id FROM osv.documents d WHERE d.id = NEW.document_id;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.summaries_fill_user_id() IS 'trigger: take a summary''s user_id from its document when not given';

/* BEFORE triggers fire in name order: fill_user_id runs before soft_delete_guard. */
CREATE TRIGGER fill_user_id BEFORE INSERT ON osv.summaries
	FOR EACH ROW WHEN (NEW.user_id IS NULL) EXECUTE FUNCTION osv.summaries_fill_user_id();
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.summaries
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, document_id, user_id ON osv.summaries
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('document_id', 'osv.documents', 'user_id', 'osv.users');
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.summaries
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete('recommendations', 'summary_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.summaries', 3);

CREATE TABLE osv.recommendations (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	summary_id bigint NOT NULL,
	score real NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT recommendations_pkey PRIMARY KEY (id),
	CONSTRAINT recommendations_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT recommendations_summary_id_fkey FOREIGN KEY (summary_id) REFERENCES osv.summaries (id) ON DELETE CASCADE,
	CONSTRAINT recommendations_score_check CHECK (score OPERATOR(pg_catalog.>=) -1 AND score OPERATOR(pg_catalog.<=) 1),
	CONSTRAINT recommendations_expires_at_check CHECK (expires_at OPERATOR(pg_catalog.>) created_at)
);
COMMENT ON TABLE osv.recommendations IS 'summary recommended to a user by similarity, valid until it expires or is revoked';
COMMENT ON COLUMN osv.recommendations.id IS 'surrogate key';
COMMENT ON COLUMN osv.recommendations.user_id IS 'user the summary is recommended to (osv.users)';
COMMENT ON COLUMN osv.recommendations.summary_id IS 'recommended summary (osv.summaries)';
COMMENT ON COLUMN osv.recommendations.score IS 'cosine similarity behind the recommendation, from -1 to 1';
COMMENT ON COLUMN osv.recommendations.expires_at IS 'when the recommendation stops being valid';
COMMENT ON COLUMN osv.recommendations.revoked_at IS 'when the recommendation was revoked (expired or replaced); NULL while valid';
COMMENT ON COLUMN osv.recommendations.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.recommendations.deleted_at IS 'when the recommendation was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.recommendations.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX recommendations_user_id_created_at_idx ON osv.recommendations (user_id, created_at);
CREATE INDEX recommendations_summary_id_idx ON osv.recommendations (summary_id);
CREATE UNIQUE INDEX recommendations_user_id_summary_id_key ON osv.recommendations (user_id, summary_id)
	WHERE revoked_at IS NULL AND deleted_at IS NULL;
CREATE INDEX recommendations_expires_at_idx ON osv.recommendations (expires_at)
	WHERE revoked_at IS NULL AND deleted_at IS NULL;

CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id, summary_id ON osv.recommendations
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users', 'summary_id', 'osv.summaries');
INSERT INTO osv.soft_delete_tables VALUES ('osv.recommendations', 4);

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

/* src/sql/rooms.sql: the rooms domain (real-time study rooms and their participants) */

CREATE TABLE osv.rooms (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	name text NOT NULL,
	last_activity_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT rooms_pkey PRIMARY KEY (id),
	CONSTRAINT rooms_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT rooms_name_check CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE osv.rooms IS 'real-time study room';
COMMENT ON COLUMN osv.rooms.id IS 'surrogate key';
COMMENT ON COLUMN osv.rooms.user_id IS 'owner (osv.users)';
COMMENT ON COLUMN osv.rooms.name IS 'name shown to users';
COMMENT ON COLUMN osv.rooms.last_activity_at IS 'last join, leave or presence in the room; rooms idle too long are trashed';
COMMENT ON COLUMN osv.rooms.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.rooms.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.rooms.deleted_at IS 'when the room was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.rooms.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX rooms_user_id_created_at_idx ON osv.rooms (user_id, created_at);
CREATE INDEX rooms_last_activity_at_idx ON osv.rooms (last_activity_at) WHERE deleted_at IS NULL;

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.rooms
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id ON osv.rooms
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users');
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.rooms
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete('room_participations', 'room_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.rooms', 7);

CREATE TABLE osv.room_participations (
	id bigint GENERATED ALWAYS AS IDENTITY,
	room_id bigint NOT NULL,
	user_id bigint NOT NULL,
	joined_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	left_at timestamptz,
	last_seen_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT room_participations_pkey PRIMARY KEY (id),
	CONSTRAINT room_participations_room_id_fkey FOREIGN KEY (room_id) REFERENCES osv.rooms (id) ON DELETE CASCADE,
	CONSTRAINT room_participations_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT room_participations_left_at_check CHECK (left_at OPERATOR(pg_catalog.>=) joined_at)
);
COMMENT ON TABLE osv.room_participations IS 'a stay of a user in a room, from joining to leaving';
COMMENT ON COLUMN osv.room_participations.id IS 'surrogate key';
COMMENT ON COLUMN osv.room_participations.room_id IS 'room (osv.rooms)';
COMMENT ON COLUMN osv.room_participations.user_id IS 'participant (osv.users)';
COMMENT ON COLUMN osv.room_participations.joined_at IS 'when the user joined';
COMMENT ON COLUMN osv.room_participations.left_at IS 'when the user left; NULL while present';
COMMENT ON COLUMN osv.room_participations.last_seen_at IS 'last presence heartbeat';
COMMENT ON COLUMN osv.room_participations.deleted_at IS 'when the participation was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.room_participations.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX room_participations_room_id_user_id_idx ON osv.room_participations (room_id, user_id);
CREATE INDEX room_participations_user_id_joined_at_idx ON osv.room_participations (user_id, joined_at);
CREATE UNIQUE INDEX room_participations_present_key ON osv.room_participations (room_id, user_id)
	WHERE left_at IS NULL AND deleted_at IS NULL;

CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, room_id, user_id ON osv.room_participations
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('room_id', 'osv.rooms', 'user_id', 'osv.users');
INSERT INTO osv.soft_delete_tables VALUES ('osv.room_participations', 8);

/* src/sql/activity.sql: the activity domain (activity logs, partitioned by day) */

/*
 * activity_logs is range-partitioned by occurred_at, one partition per UTC
 * day, so that retention detaches whole partitions instead of deleting
 * rows.  Partitions are created ahead of time by
 * osv.create_activity_log_partitions(); a row of a day with no partition
 * (an import of old events, or a day the maintenance did not run for)
 * lands in the default partition and is never refused.
 */
CREATE TABLE osv.activity_logs (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	event_type text NOT NULL,
	occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	properties jsonb NOT NULL DEFAULT '{}',
	CONSTRAINT activity_logs_pkey PRIMARY KEY (id, occurred_at),
	CONSTRAINT activity_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT activity_logs_event_type_check CHECK (event_type OPERATOR(pg_catalog.~) '^[A-Za-z][A-Za-z0-9_.:/-]{0,99}$'),
	CONSTRAINT activity_logs_properties_check CHECK (pg_catalog.jsonb_typeof(properties) OPERATOR(pg_catalog.=) 'object')
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE osv.activity_logs IS 'what users did, partitioned by day of occurred_at; archived after osv.activity_log_retention';
COMMENT ON COLUMN osv.activity_logs.id IS 'surrogate key (unique together with occurred_at)';
COMMENT ON COLUMN osv.activity_logs.user_id IS 'user who acted (osv.users)';
COMMENT ON COLUMN osv.activity_logs.event_type IS 'kind of event, such as quiz.submitted';
COMMENT ON COLUMN osv.activity_logs.occurred_at IS 'when the event happened (the source''s "timestamp")';
COMMENT ON COLUMN osv.activity_logs.properties IS 'details of the event, a JSON object';

CREATE INDEX activity_logs_user_id_occurred_at_idx ON osv.activity_logs (user_id, occurred_at);
CREATE INDEX activity_logs_event_type_occurred_at_idx ON osv.activity_logs (event_type, occurred_at);
CREATE INDEX activity_logs_occurred_at_idx ON osv.activity_logs (occurred_at);

CREATE TABLE osv.activity_logs_default PARTITION OF osv.activity_logs DEFAULT;
COMMENT ON TABLE osv.activity_logs_default IS 'activity logs of days that have no partition of their own';

/* The name of the partition holding one UTC day. */
CREATE FUNCTION osv.activity_log_partition_name(day date)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'activity_logs_p' OPERATOR(pg_catalog.||) pg_catalog.to_char(day, 'YYYYMMDD');
COMMENT ON FUNCTION osv.activity_log_partition_name(date) IS 'name of the activity_logs partition of a UTC day';

/*
 * Create the partitions of the UTC days from first_day to first_day +
 * days_ahead that do not exist yet.  Rows of such a day that wait in the
 * default partition move into the new partition.  Each partition carries a
 * CHECK constraint equal to its bounds, so that retention can later attach
 * it elsewhere without a scan.  Returns the number of partitions created.
 *
 * Locks: creating a partition takes ACCESS EXCLUSIVE on activity_logs for
 * a moment; lock_timeout bounds the wait so that writers never queue long
 * behind this function.
 */
CREATE FUNCTION osv.create_activity_log_partitions(days_ahead integer DEFAULT 14,
												   first_day date DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $$
DECLARE
	start_day date := coalesce(first_day, (pg_catalog.now() AT TIME ZONE 'UTC')::date);
	day date;
	part text;
	lower_bound timestamptz;
	upper_bound timestamptz;
	created integer := 0;
BEGIN
	IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 366 THEN
		RAISE EXCEPTION 'days_ahead must be between 0 and 366'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	FOR i IN 0 .. days_ahead LOOP
		day := start_day + i;
		part := osv.activity_log_partition_name(day);
		CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('osv.%I', part)) IS NOT NULL;

		lower_bound := (day::timestamp AT TIME ZONE 'UTC');
		upper_bound := ((day + 1)::timestamp AT TIME ZONE 'UTC');

		IF EXISTS (SELECT FROM osv.activity_logs_default
				   WHERE occurred_at >= lower_bound AND occurred_at < upper_bound) THEN
			/* Move the waiting rows into a new table, then attach it. */
			LOCK TABLE osv.activity_logs_default IN SHARE ROW EXCLUSIVE MODE;
			EXECUTE pg_catalog.format('CREATE TABLE osv.%I (LIKE osv.activity_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
			EXECUTE pg_catalog.format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
									  part, part || '_bounds', lower_bound, upper_bound);
			EXECUTE pg_catalog.format(
				'WITH moved AS (DELETE FROM osv.activity_logs_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) '
				'INSERT INTO osv.%I SELECT * FROM moved', part)
				USING lower_bound, upper_bound;
			EXECUTE pg_catalog.format('ALTER TABLE osv.activity_logs ATTACH PARTITION osv.%I FOR VALUES FROM (%L) TO (%L)',
									  part, lower_bound, upper_bound);
		ELSE
			EXECUTE pg_catalog.format('CREATE TABLE osv.%I PARTITION OF osv.activity_logs FOR VALUES FROM (%L) TO (%L)',
									  part, lower_bound, upper_bound);
			EXECUTE pg_catalog.format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
									  part, part || '_bounds', lower_bound, upper_bound);
		END IF;
		EXECUTE pg_catalog.format('COMMENT ON TABLE osv.%I IS %L', part,
								  'activity logs of ' || day::text || ' (UTC)');
		created := created + 1;
	END LOOP;
	RETURN created;
END
$$;
COMMENT ON FUNCTION osv.create_activity_log_partitions(integer, date) IS 'create the daily activity_logs partitions from first_day (default today, UTC) to days_ahead days later';

SELECT osv.create_activity_log_partitions(14);

/* src/sql/gamification.sql: the gamification domain (badges, awards, points) */

CREATE TABLE osv.badges (
	id bigint GENERATED ALWAYS AS IDENTITY,
	slug text NOT NULL,
	name text NOT NULL,
	description text,
	criteria jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT badges_pkey PRIMARY KEY (id),
	CONSTRAINT badges_slug_key UNIQUE (slug),
	CONSTRAINT badges_slug_check CHECK (slug OPERATOR(pg_catalog.~) '^[a-z0-9]+(-[a-z0-9]+)*$'),
	CONSTRAINT badges_name_check CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT badges_criteria_check CHECK (pg_catalog.jsonb_typeof(criteria) OPERATOR(pg_catalog.=) 'object')
);
COMMENT ON TABLE osv.badges IS 'badges users can earn, with the criteria that award them';
COMMENT ON COLUMN osv.badges.id IS 'surrogate key';
COMMENT ON COLUMN osv.badges.slug IS 'stable identifier used by apps, such as first-quiz';
COMMENT ON COLUMN osv.badges.name IS 'name shown to users';
COMMENT ON COLUMN osv.badges.description IS 'what the badge is for';
COMMENT ON COLUMN osv.badges.criteria IS 'declarative criteria, a JSON object';
COMMENT ON COLUMN osv.badges.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.badges.updated_at IS 'when the row last changed';

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.badges
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();

CREATE TABLE osv.awards (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	badge_id bigint NOT NULL,
	awarded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT awards_pkey PRIMARY KEY (id),
	CONSTRAINT awards_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT awards_badge_id_fkey FOREIGN KEY (badge_id) REFERENCES osv.badges (id) ON DELETE CASCADE,
	CONSTRAINT awards_user_id_badge_id_key UNIQUE (user_id, badge_id)
);
COMMENT ON TABLE osv.awards IS 'badges awarded to users (users belong to many badges through awards)';
COMMENT ON COLUMN osv.awards.id IS 'surrogate key';
COMMENT ON COLUMN osv.awards.user_id IS 'user awarded (osv.users)';
COMMENT ON COLUMN osv.awards.badge_id IS 'badge awarded (osv.badges)';
COMMENT ON COLUMN osv.awards.awarded_at IS 'when the badge was awarded';

CREATE INDEX awards_badge_id_idx ON osv.awards (badge_id);

CREATE TABLE osv.points (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	amount integer NOT NULL,
	reason text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT points_pkey PRIMARY KEY (id),
	CONSTRAINT points_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT points_amount_check CHECK (amount OPERATOR(pg_catalog.<>) 0),
	CONSTRAINT points_reason_check CHECK (pg_catalog.btrim(reason) OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE osv.points IS 'append-only ledger of points won (or taken back) by users';
COMMENT ON COLUMN osv.points.id IS 'surrogate key';
COMMENT ON COLUMN osv.points.user_id IS 'user credited (osv.users)';
COMMENT ON COLUMN osv.points.amount IS 'points won, negative for a correction';
COMMENT ON COLUMN osv.points.reason IS 'why the points were given, such as quiz:42';
COMMENT ON COLUMN osv.points.created_at IS 'when the entry was written';

CREATE INDEX points_user_id_created_at_idx ON osv.points (user_id, created_at);
