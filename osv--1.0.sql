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

/* ------------------------------------------------------------------------
 * Users from Auth0
 *
 * osv.upsert_auth0_user(profile) is what the app calls after each sign-in
 * with the Auth0 user profile (Management API user, or the claims of an ID
 * token).  Fields read:
 *   user_id or sub   the identity, required (both present: they must match)
 *   email            required; surrounding white space is removed; unique
 *                    among live users regardless of case
 *   email_verified   boolean, default false
 *   name, nickname   display name: name, else nickname, else unchanged
 *   picture          URL of the profile picture, else unchanged
 *   roles            an array of role names (or one name) in the claim
 *                    named by osv.auth0_roles_claim, else in
 *                    app_metadata.roles; the highest of student < teacher <
 *                    moderator < admin becomes users.role; an empty array
 *                    means student; no roles at all keeps the stored role
 *                    (student for a new user)
 * Other fields are ignored.  The call is idempotent: the same profile gives
 * the same row and changes nothing more.
 *
 * A trashed user who signs in again is restored, with everything the soft
 * delete trashed along with them (osv.restore), as if the pending account
 * deletion were cancelled: trashing is reversible until the purge, and
 * someone who must stay out is blocked in Auth0.  A purged user signing in
 * again is a new user.
 *
 * Concurrency: calls for the same identity are serialized by a
 * transaction-level advisory lock on the identity, so two first sign-ins at
 * once create one row, and a restore never races an insert.
 * ------------------------------------------------------------------------
 */

/* The role of a list of Auth0 role names; NULL when the list is absent. */
CREATE FUNCTION osv.auth0_role(roles jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	role_name jsonb;
	best integer := 1;
	rank integer;
	ranks CONSTANT text[] := ARRAY['student', 'teacher', 'moderator', 'admin'];
BEGIN
	IF roles IS NULL OR jsonb_typeof(roles) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(roles) = 'string' THEN
		roles := jsonb_build_array(roles);
	ELSIF jsonb_typeof(roles) <> 'array' THEN
		RAISE EXCEPTION 'roles of an Auth0 profile must be an array of role names'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR role_name IN SELECT value FROM jsonb_array_elements(roles) LOOP
		IF jsonb_typeof(role_name) <> 'string' THEN
			RAISE EXCEPTION 'roles of an Auth0 profile must be an array of role names'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		rank := array_position(ranks, lower(btrim(role_name #>> '{}')));
		IF rank IS NULL THEN
			RAISE EXCEPTION 'unrecognized role "%" in Auth0 profile', role_name #>> '{}'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Roles are student, teacher, moderator and admin.';
		END IF;
		best := greatest(best, rank);
	END LOOP;
	RETURN ranks[best];
END
$$;
COMMENT ON FUNCTION osv.auth0_role(jsonb) IS 'highest osv role among Auth0 role names (student < teacher < moderator < admin)';

CREATE FUNCTION osv.upsert_auth0_user(profile jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	claim text := coalesce(current_setting('osv.auth0_roles_claim', true), '');
	identity text;
	new_email text;
	new_verified boolean;
	new_name text;
	new_picture text;
	new_role text;
	user_id bigint;
	other_id bigint;
BEGIN
	IF profile IS NULL OR jsonb_typeof(profile) <> 'object' THEN
		RAISE EXCEPTION 'Auth0 profile must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	/* identity */
	IF jsonb_typeof(profile->'user_id') NOT IN ('string', 'null')
		OR jsonb_typeof(profile->'sub') NOT IN ('string', 'null') THEN
		RAISE EXCEPTION 'user_id and sub of an Auth0 profile must be strings'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	identity := nullif(btrim(profile->>'user_id'), '');
	IF identity IS NOT NULL AND nullif(btrim(profile->>'sub'), '') IS DISTINCT FROM identity
		AND nullif(btrim(profile->>'sub'), '') IS NOT NULL THEN
		RAISE EXCEPTION 'Auth0 profile has different user_id and sub'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('user_id is "%s", sub is "%s".', identity, btrim(profile->>'sub'));
	END IF;
	identity := coalesce(identity, nullif(btrim(profile->>'sub'), ''));
	IF identity IS NULL THEN
		RAISE EXCEPTION 'Auth0 profile has no user_id or sub'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	/* email */
	IF jsonb_typeof(profile->'email') IS DISTINCT FROM 'string' OR btrim(profile->>'email') = '' THEN
		RAISE EXCEPTION 'Auth0 profile of user "%" has no email', identity
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'osv needs an e-mail address for every user; request the "email" scope.';
	END IF;
	new_email := btrim(profile->>'email', E' \t\r\n');
	IF new_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' OR length(new_email) > 320 THEN
		RAISE EXCEPTION 'Auth0 profile of user "%" has invalid email "%"', identity, new_email
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(profile->'email_verified') NOT IN ('boolean', 'null') THEN
		RAISE EXCEPTION 'email_verified of an Auth0 profile must be a boolean'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	new_verified := coalesce((profile->'email_verified')::boolean, false);

	/* name, picture, role */
	IF jsonb_typeof(profile->'name') NOT IN ('string', 'null')
		OR jsonb_typeof(profile->'nickname') NOT IN ('string', 'null')
		OR jsonb_typeof(profile->'picture') NOT IN ('string', 'null') THEN
		RAISE EXCEPTION 'name, nickname and picture of an Auth0 profile must be strings'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	new_name := coalesce(nullif(btrim(profile->>'name'), ''), nullif(btrim(profile->>'nickname'), ''));
	new_picture := nullif(btrim(profile->>'picture'), '');
	IF claim <> '' AND profile ? claim THEN
		new_role := osv.auth0_role(profile->claim);
	ELSIF jsonb_typeof(profile->'app_metadata') = 'object' THEN
		new_role := osv.auth0_role(profile->'app_metadata'->'roles');
	END IF;

	PERFORM pg_advisory_xact_lock(hashtextextended('osv.users:' || identity, 0));

	/* Another live user with the address: say so before the index does. */
	SELECT u.id INTO other_id FROM osv.users u
	WHERE lower(u.email) = lower(new_email) AND u.deleted_at IS NULL AND u.auth0_id <> identity;
	IF FOUND THEN
		RAISE EXCEPTION 'email address "%" belongs to another user', new_email
			USING ERRCODE = 'unique_violation', CONSTRAINT = 'users_email_key';
	END IF;

	/* A live user: update what changed. */
	SELECT u.id INTO user_id FROM osv.users u WHERE u.auth0_id = identity AND u.deleted_at IS NULL;
	IF FOUND THEN
		UPDATE osv.users u
		   SET email = new_email, email_verified = new_verified,
			   name = coalesce(new_name, u.name), picture_url = coalesce(new_picture, u.picture_url),
			   role = coalesce(new_role, u.role)
		 WHERE u.id = user_id
		   AND (u.email, u.email_verified, u.name, u.picture_url, u.role)
			   IS DISTINCT FROM (new_email, new_verified, coalesce(new_name, u.name),
								 coalesce(new_picture, u.picture_url), coalesce(new_role, u.role));
		RETURN user_id;
	END IF;

	/* A trashed user signing in again is restored. */
	SELECT u.id INTO user_id FROM osv.users u
	WHERE u.auth0_id = identity AND u.deleted_at IS NOT NULL
	ORDER BY u.deleted_at DESC, u.id DESC LIMIT 1;
	IF FOUND THEN
		/*
		 * Restore and update in one statement, so that the restored row
		 * carries the new address at once; cascade_soft_delete brings back
		 * what the soft delete trashed with the user.
		 */
		UPDATE osv.users u
		   SET deleted_at = NULL, email = new_email, email_verified = new_verified,
			   name = coalesce(new_name, u.name), picture_url = coalesce(new_picture, u.picture_url),
			   role = coalesce(new_role, u.role)
		 WHERE u.id = user_id;
		RETURN user_id;
	END IF;

	/* A new user.  ON CONFLICT covers rows inserted by plain DML meanwhile. */
	INSERT INTO osv.users AS u (auth0_id, email, email_verified, name, picture_url, role)
	VALUES (identity, new_email, new_verified, new_name, new_picture, coalesce(new_role, 'student'))
	ON CONFLICT (auth0_id) WHERE deleted_at IS NULL DO UPDATE
		SET email = EXCLUDED.email, email_verified = EXCLUDED.email_verified,
			name = coalesce(new_name, u.name), picture_url = coalesce(new_picture, u.picture_url),
			role = coalesce(new_role, u.role)
	RETURNING u.id INTO user_id;
	RETURN user_id;
END
$$;
COMMENT ON FUNCTION osv.upsert_auth0_user(jsonb) IS 'create or update a user from an Auth0 profile and return its id; restores a trashed user who signs in again';

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
	IF NOT FOUND AND NEW.document_id IS NOT NULL THEN
		/* Say what the foreign key would say, rather than "user_id is null". */
		RAISE EXCEPTION 'insert or update on table "summaries" violates foreign key constraint "summaries_document_id_fkey"'
			USING ERRCODE = 'foreign_key_violation',
				  DETAIL = pg_catalog.format('Key (document_id)=(%s) is not present in table "documents".', NEW.document_id),
				  CONSTRAINT = 'summaries_document_id_fkey', TABLE = 'summaries', SCHEMA = 'osv';
	END IF;
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

/* ------------------------------------------------------------------------
 * Registering uploads
 *
 * The app stores the file in object storage (MinIO) first, then calls
 * osv.register_upload() with where it put it.  The document's type is
 * derived from the content type unless given:
 *   application/pdf -> pdf;  audio/... -> audio;  video/... -> video;
 *   image/... -> image;  text/..., application/json, application/xml,
 *   application/rtf, application/x-tex -> text;  anything else -> other.
 * ------------------------------------------------------------------------
 */

/* The document type of a MIME type. */
CREATE FUNCTION osv.document_type_of(content_type text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
	WHEN pg_catalog.split_part(pg_catalog.lower(content_type), ';', 1) OPERATOR(pg_catalog.~) '^\s*application/pdf\s*$' THEN 'pdf'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*audio/' THEN 'audio'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*video/' THEN 'video'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*image/' THEN 'image'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*(text/|application/(json|xml|rtf|x-tex)\s*(;|$))' THEN 'text'
	ELSE 'other'
END;
COMMENT ON FUNCTION osv.document_type_of(text) IS 'document type (pdf, audio, video, image, text or other) of a MIME content type';

CREATE FUNCTION osv.register_upload(user_id bigint, storage_bucket text, storage_key text,
									content_type text, size_bytes bigint, checksum_sha256 text,
									title text DEFAULT NULL, type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	owner_trashed boolean;
	doc_title text;
	doc_type text;
	doc_id bigint;
BEGIN
	IF user_id IS NULL OR storage_bucket IS NULL OR storage_key IS NULL OR content_type IS NULL
		OR size_bytes IS NULL OR checksum_sha256 IS NULL THEN
		RAISE EXCEPTION 'user_id, storage_bucket, storage_key, content_type, size_bytes and checksum_sha256 must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT u.deleted_at IS NOT NULL INTO owner_trashed FROM osv.users u WHERE u.id = register_upload.user_id;
	IF owner_trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF owner_trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF content_type !~ '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\s*(;.*)?$' THEN
		RAISE EXCEPTION 'invalid content type "%"', content_type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A content type is a MIME type such as application/pdf.';
	END IF;
	IF size_bytes < 0 THEN
		RAISE EXCEPTION 'size_bytes must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF checksum_sha256 !~ '^[0-9A-Fa-f]{64}$' THEN
		RAISE EXCEPTION 'invalid SHA-256 checksum "%"', checksum_sha256
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A SHA-256 checksum is 64 hexadecimal digits.';
	END IF;
	doc_type := coalesce(type, osv.document_type_of(content_type));
	IF doc_type <> ALL (ARRAY['pdf', 'audio', 'video', 'image', 'text', 'other']) THEN
		RAISE EXCEPTION 'invalid document type "%"', doc_type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Document types are pdf, audio, video, image, text and other.';
	END IF;
	/* Default title: the last segment of the key. */
	doc_title := coalesce(nullif(btrim(title), ''), nullif(btrim(regexp_replace(storage_key, '^.*/', '')), ''), storage_key);
	IF EXISTS (SELECT FROM osv.documents d
			   WHERE d.storage_bucket = register_upload.storage_bucket
				 AND d.storage_key = register_upload.storage_key AND d.deleted_at IS NULL) THEN
		RAISE EXCEPTION 'object "%" of bucket "%" is registered already', storage_key, storage_bucket
			USING ERRCODE = 'unique_violation', CONSTRAINT = 'documents_storage_object_key';
	END IF;

	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key, content_type, size_bytes, checksum_sha256)
	VALUES (user_id, doc_type, doc_title, storage_bucket, storage_key, btrim(content_type), size_bytes, lower(checksum_sha256))
	RETURNING id INTO doc_id;
	PERFORM osv.log_activity(user_id, 'document.uploaded',
							 jsonb_build_object('document_id', doc_id, 'type', doc_type, 'size_bytes', size_bytes));
	RETURN doc_id;
END
$$;
COMMENT ON FUNCTION osv.register_upload(bigint, text, text, text, bigint, text, text, text) IS 'register a file stored in object storage as a document of a user and return the document id';

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
	FOR EACH ROW EXECUTE FUNCTION osv.soft_delete_guard('quiz_id', 'osv.quizzes', 'user_id', 'osv.users');
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
	user_trashed boolean;
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
	SELECT u.deleted_at IS NOT NULL INTO user_trashed FROM osv.users u WHERE u.id = submit_answer.user_id;
	IF user_trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF user_trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;

	/* Grade every response in one pass; the first problem (by question id) wins. */
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
	SELECT u.deleted_at IS NOT NULL INTO trashed FROM osv.users u WHERE u.id = create_quiz.user_id;
	IF trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
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

/* ------------------------------------------------------------------------
 * Presence
 *
 * A user is present in a room while their participation has no left_at.
 * osv.join_room() starts a participation (or returns the present one: one
 * live participation per user and room, enforced by
 * room_participations_present_key, so two joins at once make one),
 * osv.leave_room() ends it, osv.room_heartbeat() records that the user is
 * still there.  Each of them counts as activity of the room: it sets
 * rooms.last_activity_at, which osv.delete_abandoned_rooms() reads.  A
 * heartbeat touches the room at most once a minute, so that a busy room's
 * row is not rewritten for every heartbeat.
 *
 * Locks: each call locks the room row (UPDATE of last_activity_at) before
 * it touches participations, so joins and leaves of one room are
 * serialized and a room cannot be trashed under a join.
 * ------------------------------------------------------------------------
 */

/*
 * Lock a live room for a presence change and mark it active; raise the
 * errors of a missing or trashed room and of a missing or trashed user.
 */
CREATE FUNCTION osv.touch_room(room_id bigint, user_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trashed boolean;
BEGIN
	IF room_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'room_id and user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT u.deleted_at IS NOT NULL INTO trashed FROM osv.users u WHERE u.id = touch_room.user_id;
	IF trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE osv.rooms r SET last_activity_at = now() WHERE r.id = touch_room.room_id AND r.deleted_at IS NULL;
	IF NOT FOUND THEN
		IF EXISTS (SELECT FROM osv.rooms r WHERE r.id = touch_room.room_id) THEN
			RAISE EXCEPTION 'room % is trashed', room_id USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		RAISE EXCEPTION 'room % does not exist', room_id USING ERRCODE = 'foreign_key_violation';
	END IF;
END
$$;
COMMENT ON FUNCTION osv.touch_room(bigint, bigint) IS 'lock a live room, set its last activity to now, and check the user';

CREATE FUNCTION osv.join_room(room_id bigint, user_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	participation_id bigint;
	joined boolean;
BEGIN
	PERFORM osv.touch_room(room_id, user_id);
	INSERT INTO osv.room_participations AS p (room_id, user_id)
	VALUES (join_room.room_id, join_room.user_id)
	ON CONFLICT (room_id, user_id) WHERE left_at IS NULL AND deleted_at IS NULL
	DO UPDATE SET last_seen_at = now()
	RETURNING p.id, p.xmax = 0 INTO participation_id, joined;
	IF joined THEN
		PERFORM osv.log_activity(join_room.user_id, 'room.joined', jsonb_build_object('room_id', join_room.room_id));
	END IF;
	RETURN participation_id;
END
$$;
COMMENT ON FUNCTION osv.join_room(bigint, bigint) IS 'make a user present in a room and return the participation id; joining again returns the present participation';

CREATE FUNCTION osv.leave_room(room_id bigint, user_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM osv.touch_room(room_id, user_id);
	UPDATE osv.room_participations p SET left_at = greatest(now(), p.joined_at), last_seen_at = now()
	WHERE p.room_id = leave_room.room_id AND p.user_id = leave_room.user_id
	  AND p.left_at IS NULL AND p.deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM osv.log_activity(leave_room.user_id, 'room.left', jsonb_build_object('room_id', leave_room.room_id));
	RETURN true;
END
$$;
COMMENT ON FUNCTION osv.leave_room(bigint, bigint) IS 'end the presence of a user in a room; false if the user was not present';

CREATE FUNCTION osv.room_heartbeat(room_id bigint, user_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	last_activity timestamptz;
	trashed boolean;
BEGIN
	IF room_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'room_id and user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT r.last_activity_at, r.deleted_at IS NOT NULL INTO last_activity, trashed
	FROM osv.rooms r WHERE r.id = room_heartbeat.room_id;
	IF trashed IS NULL OR trashed OR last_activity < now() - interval '1 minute' THEN
		/* touch_room raises the errors and marks the room active. */
		PERFORM osv.touch_room(room_id, user_id);
	END IF;
	UPDATE osv.room_participations p SET last_seen_at = now()
	WHERE p.room_id = room_heartbeat.room_id AND p.user_id = room_heartbeat.user_id
	  AND p.left_at IS NULL AND p.deleted_at IS NULL;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION osv.room_heartbeat(bigint, bigint) IS 'record that a user is still present in a room; false if the user is not present (join again)';

/* osv.create_room(): open a room owned by a live user; returns its id. */
CREATE FUNCTION osv.create_room(user_id bigint, name text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trashed boolean;
	new_id bigint;
BEGIN
	IF user_id IS NULL OR name IS NULL THEN
		RAISE EXCEPTION 'user_id and name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT u.deleted_at IS NOT NULL INTO trashed FROM osv.users u WHERE u.id = create_room.user_id;
	IF trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	INSERT INTO osv.rooms (user_id, name) VALUES (create_room.user_id, btrim(create_room.name))
	RETURNING id INTO new_id;
	PERFORM osv.log_activity(create_room.user_id, 'room.created', jsonb_build_object('room_id', new_id));
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION osv.create_room(bigint, text) IS 'open a study room owned by a live user and return its id';

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

/*
 * osv.log_activity(user_id, event_type, properties): record an event, now.
 *
 * Returns the id of the new row, or NULL, storing nothing, when the user
 * opted out of logging (users.logging_opt_out) or is trashed (their data
 * is on its way out; logging must not fail the request that calls it).
 * An unknown user is an error, as the foreign key would say.  Meant to be
 * called on every request: one index lookup of the user and one insert.
 */
CREATE FUNCTION osv.log_activity(user_id bigint, event_type text, properties jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	skip boolean;
	log_id bigint;
BEGIN
	/* Checked here too, so that the error does not name a partition. */
	IF event_type IS NULL THEN
		RAISE EXCEPTION 'event_type must not be null' USING ERRCODE = 'null_value_not_allowed';
	ELSIF event_type !~ '^[A-Za-z][A-Za-z0-9_.:/-]{0,99}$' THEN
		RAISE EXCEPTION 'invalid event type "%"', event_type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'An event type starts with a letter and has up to 100 letters, digits and _.:/- characters, such as quiz.submitted.';
	END IF;
	IF jsonb_typeof(properties) <> 'object' THEN
		RAISE EXCEPTION 'properties of an activity must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT u.logging_opt_out OR u.deleted_at IS NOT NULL INTO skip FROM osv.users u WHERE u.id = log_activity.user_id;
	IF skip IS NULL THEN
		IF user_id IS NULL THEN
			RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
		END IF;
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF skip THEN
		RETURN NULL;
	END IF;
	INSERT INTO osv.activity_logs (user_id, event_type, properties)
	VALUES (log_activity.user_id, log_activity.event_type, coalesce(log_activity.properties, '{}'))
	RETURNING id INTO log_id;
	RETURN log_id;
END
$$;
COMMENT ON FUNCTION osv.log_activity(bigint, text, jsonb) IS 'record an activity event of a user and return its id; NULL, storing nothing, when the user opted out of logging or is trashed';

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

/* ------------------------------------------------------------------------
 * Badge criteria
 *
 * badges.criteria is a JSON object of conditions, all of which must hold:
 *   points_at_least          the user's point total
 *   quizzes_passed_at_least  live quizzes the user passed (osv.answers.passed)
 *   documents_at_least       live documents the user owns
 *   rooms_joined_at_least    live rooms the user ever joined
 * each a non-negative integer.  Other keys are refused.  {} is awarded on
 * the first fact of any kind.  Badges are evaluated for a user whenever one
 * of their facts changes (points awarded, a quiz passed, a document
 * registered, a room joined), by triggers on those tables, and awarded once
 * (awards_user_id_badge_id_key).  Awards stay when the facts later change.
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.badges_check_criteria()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v jsonb;
BEGIN
	IF jsonb_typeof(NEW.criteria) IS DISTINCT FROM 'object' THEN
		RETURN NEW;		/* left to badges_criteria_check */
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM jsonb_each(NEW.criteria) e ORDER BY e.key LOOP
		IF k NOT IN ('points_at_least', 'quizzes_passed_at_least', 'documents_at_least', 'rooms_joined_at_least') THEN
			RAISE EXCEPTION 'unrecognized criterion "%" of badge "%"', k, NEW.slug
				USING ERRCODE = 'check_violation', TABLE = 'badges', COLUMN = 'criteria',
					  HINT = 'Criteria are points_at_least, quizzes_passed_at_least, documents_at_least and rooms_joined_at_least.';
		END IF;
		IF jsonb_typeof(v) <> 'number' OR v::numeric < 0 OR v::numeric <> trunc(v::numeric) OR v::numeric > 9223372036854775807 THEN
			RAISE EXCEPTION 'criterion "%" of badge "%" must be a non-negative integer', k, NEW.slug
				USING ERRCODE = 'check_violation', TABLE = 'badges', COLUMN = 'criteria';
		END IF;
	END LOOP;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.badges_check_criteria() IS 'trigger: refuse badge criteria with unrecognized keys or values that are not non-negative integers';

CREATE TRIGGER check_criteria BEFORE INSERT OR UPDATE OF criteria ON osv.badges
	FOR EACH ROW EXECUTE FUNCTION osv.badges_check_criteria();

/* ------------------------------------------------------------------------
 * Point totals
 *
 * osv.points is an append-only ledger: UPDATE is refused, and DELETE is
 * refused unless it is the foreign key cascade of deleting the user (a
 * hard delete or GDPR erasure); the trigger tells them apart by whether
 * the user row still exists.  TRUNCATE is left to administrators.
 * osv.point_totals holds each user's sum, kept by a row trigger on the
 * ledger with INSERT ... ON CONFLICT DO UPDATE, which locks the user's
 * total row: concurrent awards to one user queue there and stay exact.
 * ------------------------------------------------------------------------
 */
CREATE TABLE osv.point_totals (
	user_id bigint NOT NULL,
	points bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT point_totals_pkey PRIMARY KEY (user_id),
	CONSTRAINT point_totals_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE
);
COMMENT ON TABLE osv.point_totals IS 'each user''s point total, the sum of their ledger entries in osv.points, kept by trigger';
COMMENT ON COLUMN osv.point_totals.user_id IS 'user (osv.users)';
COMMENT ON COLUMN osv.point_totals.points IS 'sum of the user''s entries in osv.points';
COMMENT ON COLUMN osv.point_totals.updated_at IS 'when the total last changed';

CREATE INDEX point_totals_points_idx ON osv.point_totals (points DESC, user_id);

CREATE FUNCTION osv.points_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF NOT EXISTS (SELECT FROM osv.users u WHERE u.id = OLD.user_id) THEN
			RETURN OLD;		/* the cascade of deleting the user */
		END IF;
		RAISE EXCEPTION 'cannot delete from the points ledger'
			USING ERRCODE = 'prohibited_sql_statement_attempted',
				  DETAIL = 'osv.points is append-only; entries go away only with their user.',
				  HINT = 'Award negative points with osv.award_points() to correct a total.';
	END IF;
	RAISE EXCEPTION 'cannot update the points ledger'
		USING ERRCODE = 'prohibited_sql_statement_attempted',
			  DETAIL = 'osv.points is append-only.',
			  HINT = 'Award negative points with osv.award_points() to correct a total.';
END
$$;
COMMENT ON FUNCTION osv.points_append_only() IS 'trigger: refuse updates of the points ledger and deletes other than the cascade of deleting a user';

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON osv.points
	FOR EACH ROW EXECUTE FUNCTION osv.points_append_only();

/*
 * Award the badges whose criteria the user now meets.  Only badges naming
 * the fact that changed (or no fact at all) are considered; NULL means all.
 * Returns the number of badges awarded.
 */
CREATE FUNCTION osv.evaluate_badges(user_id bigint, fact text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	awarded integer;
BEGIN
	WITH candidates AS (
		SELECT b.id, b.criteria FROM osv.badges b
		WHERE (fact IS NULL OR b.criteria ? fact OR b.criteria = '{}')
		  AND NOT EXISTS (SELECT FROM osv.awards a WHERE a.user_id = evaluate_badges.user_id AND a.badge_id = b.id)
	), ins AS (
		INSERT INTO osv.awards (user_id, badge_id)
		SELECT evaluate_badges.user_id, c.id FROM candidates c
		WHERE (NOT c.criteria ? 'points_at_least'
			   OR (c.criteria->>'points_at_least')::numeric <=
				  coalesce((SELECT t.points FROM osv.point_totals t WHERE t.user_id = evaluate_badges.user_id), 0))
		  AND (NOT c.criteria ? 'quizzes_passed_at_least'
			   OR (c.criteria->>'quizzes_passed_at_least')::numeric <=
				  (SELECT count(DISTINCT a.quiz_id) FROM osv.answers a
				   WHERE a.user_id = evaluate_badges.user_id AND a.passed AND a.deleted_at IS NULL))
		  AND (NOT c.criteria ? 'documents_at_least'
			   OR (c.criteria->>'documents_at_least')::numeric <=
				  (SELECT count(*) FROM osv.documents d
				   WHERE d.user_id = evaluate_badges.user_id AND d.deleted_at IS NULL))
		  AND (NOT c.criteria ? 'rooms_joined_at_least'
			   OR (c.criteria->>'rooms_joined_at_least')::numeric <=
				  (SELECT count(DISTINCT p.room_id) FROM osv.room_participations p
				   WHERE p.user_id = evaluate_badges.user_id AND p.deleted_at IS NULL))
		ON CONFLICT (user_id, badge_id) DO NOTHING
		RETURNING 1
	)
	SELECT count(*) INTO awarded FROM ins;
	RETURN awarded;
END
$$;
COMMENT ON FUNCTION osv.evaluate_badges(bigint, text) IS 'award a user the badges whose criteria they now meet (only those naming fact, when given); returns how many';

CREATE FUNCTION osv.points_after_insert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO osv.point_totals AS t (user_id, points) VALUES (NEW.user_id, NEW.amount)
	ON CONFLICT (user_id) DO UPDATE SET points = t.points + EXCLUDED.points, updated_at = now();
	IF NEW.amount > 0 THEN
		PERFORM osv.evaluate_badges(NEW.user_id, 'points_at_least');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.points_after_insert() IS 'trigger: add a ledger entry to the user''s total and award the badges it earns';

CREATE TRIGGER add_to_total AFTER INSERT ON osv.points
	FOR EACH ROW EXECUTE FUNCTION osv.points_after_insert();

/* Facts behind the other criteria: evaluate the badges naming them. */
CREATE FUNCTION osv.evaluate_badges_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM osv.evaluate_badges(NEW.user_id, TG_ARGV[0]);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.evaluate_badges_trigger() IS 'trigger: evaluate the badges naming the criterion given as argument for the row''s user';

CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.documents
	FOR EACH ROW WHEN (NEW.deleted_at IS NULL) EXECUTE FUNCTION osv.evaluate_badges_trigger('documents_at_least');
CREATE TRIGGER evaluate_badges AFTER INSERT OR UPDATE OF passed ON osv.answers
	FOR EACH ROW WHEN (NEW.passed AND NEW.deleted_at IS NULL) EXECUTE FUNCTION osv.evaluate_badges_trigger('quizzes_passed_at_least');
CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.room_participations
	FOR EACH ROW WHEN (NEW.deleted_at IS NULL) EXECUTE FUNCTION osv.evaluate_badges_trigger('rooms_joined_at_least');

/*
 * osv.award_points(user_id, amount, reason): write a ledger entry and
 * return its id; the trigger add_to_total updates the total and awards the
 * badges it earns.  Negative amounts correct a total.  The user must be
 * live.
 */
CREATE FUNCTION osv.award_points(user_id bigint, amount integer, reason text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trashed boolean;
	entry_id bigint;
BEGIN
	IF user_id IS NULL OR amount IS NULL OR reason IS NULL THEN
		RAISE EXCEPTION 'user_id, amount and reason must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF amount = 0 THEN
		RAISE EXCEPTION 'amount of points must not be zero' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF btrim(reason) = '' THEN
		RAISE EXCEPTION 'reason for points must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT u.deleted_at IS NOT NULL INTO trashed FROM osv.users u WHERE u.id = award_points.user_id;
	IF trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	INSERT INTO osv.points (user_id, amount, reason)
	VALUES (award_points.user_id, award_points.amount, btrim(award_points.reason))
	RETURNING id INTO entry_id;
	RETURN entry_id;
END
$$;
COMMENT ON FUNCTION osv.award_points(bigint, integer, text) IS 'add points to a user''s ledger, update the total, award the badges earned; returns the ledger entry id';

/*
 * osv.leaderboard(k): the k live users with the most points, best first;
 * users with equal points share a rank (rank(), so ranks may skip) and are
 * listed by id.  Reads point_totals_points_idx in order and stops after k
 * live users.
 */
CREATE FUNCTION osv.leaderboard(k integer DEFAULT 10)
RETURNS TABLE (rank bigint, user_id bigint, name text, points bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF k IS NULL OR k < 1 OR k > 1000 THEN
		RAISE EXCEPTION 'k must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
	SELECT pg_catalog.rank() OVER (ORDER BY top.points DESC), top.user_id, top.name, top.points
	FROM (SELECT t.user_id, u.name, t.points
		  FROM osv.point_totals t JOIN osv.users u ON u.id = t.user_id
		  WHERE u.deleted_at IS NULL
		  ORDER BY t.points DESC, t.user_id
		  LIMIT k) top
	ORDER BY top.points DESC, top.user_id;
END
$$;
COMMENT ON FUNCTION osv.leaderboard(integer) IS 'top k live users by point total, with rank';
