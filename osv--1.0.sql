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

/*
 * Trash (trash = true) or restore one row of a soft-deletable table, by the
 * same UPDATE of deleted_at that an app would run, so the triggers do the
 * rest.  Returns false when the row already was in the wanted state.
 */
CREATE FUNCTION osv.set_trashed(tbl regclass, id bigint, trash boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	was_trashed boolean;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT FROM osv.soft_delete_tables t WHERE t.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" does not support soft deletes', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Soft deletes apply to the content tables of schema osv, such as osv.documents.';
	END IF;
	IF id IS NULL THEN
		RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format('SELECT deleted_at IS NOT NULL FROM %s WHERE id = $1 FOR NO KEY UPDATE', tbl)
		INTO was_trashed USING id;
	IF was_trashed IS NULL THEN
		RAISE EXCEPTION 'row % of "%" does not exist', id, tbl USING ERRCODE = 'no_data_found';
	END IF;
	IF was_trashed = trash THEN
		RETURN false;
	END IF;
	EXECUTE format('UPDATE %s SET deleted_at = CASE WHEN $2 THEN pg_catalog.now() END WHERE id = $1', tbl)
		USING id, trash;
	RETURN true;
END
$$;
COMMENT ON FUNCTION osv.set_trashed(regclass, bigint, boolean) IS 'trash or restore one row; false if it already was in that state';

CREATE FUNCTION osv.soft_delete(tbl regclass, id bigint)
RETURNS boolean
LANGUAGE sql
RETURN osv.set_trashed(tbl, id, true);
COMMENT ON FUNCTION osv.soft_delete(regclass, bigint) IS 'trash a row and everything it owns; false if it was trashed already';

CREATE FUNCTION osv.restore(tbl regclass, id bigint)
RETURNS boolean
LANGUAGE sql
RETURN osv.set_trashed(tbl, id, false);
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
 * delete trashed along with them (the same cascade as osv.restore), as if
 * the pending account deletion were cancelled: trashing is reversible until
 * the purge, and someone who must stay out is blocked in Auth0.  If another
 * live user took the address meanwhile, the sign-in is refused and the user
 * stays trashed.  A purged user signing in again is a new user.
 *
 * Concurrency: calls for the same identity are serialized by a
 * transaction-level advisory lock on the identity, so two first sign-ins at
 * once create one row, and a restore never races an insert.
 * ------------------------------------------------------------------------
 */

/*
 * Raise the error of a user who does not exist or is trashed; the functions
 * that act for a user call it first.
 */
CREATE FUNCTION osv.require_live_user(user_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trashed boolean;
BEGIN
	SELECT u.deleted_at IS NOT NULL INTO trashed FROM osv.users u WHERE u.id = require_live_user.user_id;
	IF trashed IS NULL THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'foreign_key_violation';
	ELSIF trashed THEN
		RAISE EXCEPTION 'user % is trashed', user_id USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
END
$$;
COMMENT ON FUNCTION osv.require_live_user(bigint) IS 'raise an error unless the user exists and is live';

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
COMMENT ON FUNCTION osv.upsert_auth0_user(jsonb) IS 'create or update a user from an Auth0 profile and return its id; a trashed user who signs in again is restored with what was trashed with them';

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
	doc_title text;
	doc_type text;
	doc_id bigint;
BEGIN
	IF user_id IS NULL OR storage_bucket IS NULL OR storage_key IS NULL OR content_type IS NULL
		OR size_bytes IS NULL OR checksum_sha256 IS NULL THEN
		RAISE EXCEPTION 'user_id, storage_bucket, storage_key, content_type, size_bytes and checksum_sha256 must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM osv.require_live_user(register_upload.user_id);
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
BEGIN
	IF room_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'room_id and user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM osv.require_live_user(touch_room.user_id);
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
	new_id bigint;
BEGIN
	IF user_id IS NULL OR name IS NULL THEN
		RAISE EXCEPTION 'user_id and name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM osv.require_live_user(create_room.user_id);
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
 * An unknown user is an error, as the foreign key would say; so are a
 * null user or event type, an event type that activity_logs_event_type_check
 * would refuse, and properties that are not a JSON object (NULL means {}).
 * Meant to be called on every request, hence in C (src/domain.c): one
 * prepared INSERT ... SELECT that reads the user's row by primary key and
 * stores the event (bench/domain_log_activity.sh compares it with a plain
 * INSERT).
 */
CREATE FUNCTION osv.log_activity(user_id bigint, event_type text, properties jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_log_activity';
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

/*
 * The same for inserts of documents and room participations, once per
 * statement and user (a bulk upload evaluates its owner's badges once, not
 * once per row), and not at all while no badge names the criterion: those
 * inserts are hot paths, so the trigger is in C (src/badges.c) with a
 * per-backend cache of the criteria in use, which osv.badges_changed()
 * drops in every backend when osv.badges changes.
 */
CREATE FUNCTION osv.evaluate_badges_after_insert()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_evaluate_badges_after_insert';
COMMENT ON FUNCTION osv.evaluate_badges_after_insert() IS 'trigger: evaluate, once per statement and user, the badges naming the criterion given as argument';

CREATE FUNCTION osv.badges_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_badges_changed';
COMMENT ON FUNCTION osv.badges_changed() IS 'trigger: make every backend read again which criteria badges name';

CREATE TRIGGER badges_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON osv.badges
	FOR EACH STATEMENT EXECUTE FUNCTION osv.badges_changed();
/* Also under session_replication_role = replica (logical replication, restores). */
ALTER TABLE osv.badges ENABLE ALWAYS TRIGGER badges_changed;

CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.documents
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.evaluate_badges_after_insert('documents_at_least');
CREATE TRIGGER evaluate_badges AFTER INSERT OR UPDATE OF passed ON osv.answers
	FOR EACH ROW WHEN (NEW.passed AND NEW.deleted_at IS NULL) EXECUTE FUNCTION osv.evaluate_badges_trigger('quizzes_passed_at_least');
CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.room_participations
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.evaluate_badges_after_insert('rooms_joined_at_least');

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
	PERFORM osv.require_live_user(award_points.user_id);
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

/* src/sql/vector.sql: the vector layer's transactional outbox and sync to Qdrant (DESIGN.md section 5) */

/*
 * The outbox holds at most one row per summary: the summary needs to be
 * brought up to date in Qdrant.  It says nothing about what to send; the
 * sender derives the point's desired state from the summary row when it
 * sends (a live summary with an embedding is upserted, anything else,
 * including a summary that no longer exists, is deleted), so coalescing
 * many changes into one row is always correct.  Every change bumps
 * version; a sender records the version it claimed and deletes the row on
 * success only if the version is still the same, so a change made while a
 * batch is in flight stays pending.  summary_id 0 is the TRUNCATE marker:
 * drop the collection's content, then send every live summary again.
 *
 * Rows are written by the trigger osv.vector_enqueue() (C) in the writing
 * transaction, and claimed and recorded by osv.vector_sync() and the vector
 * sync worker (src/vector_sync.c).  In the embedded mode (osv.qdrant_url
 * empty) nothing is enqueued; osv.vector_resync() backfills once Qdrant is
 * configured, and the worker runs it by itself when it sees a new URL.
 *
 * fillfactor 50: a claim updates every row it takes (claim_id, lease), and
 * only room on the row's own page makes that a HOT update; on full pages
 * each claim added an entry to both indexes, which the next claims then
 * had to step over (measured with bench/sync_throughput.sh: a claim of 256
 * rows took 5-16 ms, growing as the outbox drained; with room, 6 ms).
 */
CREATE TABLE osv.vector_outbox (
	summary_id bigint NOT NULL,
	version bigint NOT NULL DEFAULT 1,
	state text NOT NULL DEFAULT 'pending',
	attempts integer NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	claim_id bigint,
	claimed_version bigint,
	lease_until timestamptz,
	last_attempt_at timestamptz,
	last_error text,
	CONSTRAINT vector_outbox_pkey PRIMARY KEY (summary_id),
	CONSTRAINT vector_outbox_state_check CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'failed'])),
	CONSTRAINT vector_outbox_summary_id_check CHECK (summary_id OPERATOR(pg_catalog.>=) 0),
	CONSTRAINT vector_outbox_attempts_check CHECK (attempts OPERATOR(pg_catalog.>=) 0)
) WITH (fillfactor = 50);
COMMENT ON TABLE osv.vector_outbox IS 'summaries whose Qdrant point must be brought up to date (transactional outbox, one row per summary)';
COMMENT ON COLUMN osv.vector_outbox.summary_id IS 'summary (and Qdrant point id) to sync; 0 marks a TRUNCATE of the summaries';
COMMENT ON COLUMN osv.vector_outbox.version IS 'number of changes coalesced into the row; a sync deletes the row only if it is unchanged';
COMMENT ON COLUMN osv.vector_outbox.state IS 'pending (to be sent) or failed (parked after too many attempts; a new change makes it pending again)';
COMMENT ON COLUMN osv.vector_outbox.attempts IS 'attempts to send the current version, counted when claimed';
COMMENT ON COLUMN osv.vector_outbox.enqueued_at IS 'when the oldest change of the row was enqueued';
COMMENT ON COLUMN osv.vector_outbox.next_attempt_at IS 'earliest time of the next attempt (backoff)';
COMMENT ON COLUMN osv.vector_outbox.claim_id IS 'batch that claimed the row while it is in flight; NULL otherwise';
COMMENT ON COLUMN osv.vector_outbox.claimed_version IS 'version sent by the batch in flight';
COMMENT ON COLUMN osv.vector_outbox.lease_until IS 'when a claim of a batch that never recorded its outcome expires';
COMMENT ON COLUMN osv.vector_outbox.last_attempt_at IS 'when the row was last claimed';
COMMENT ON COLUMN osv.vector_outbox.last_error IS 'error of the last failed attempt';

CREATE INDEX vector_outbox_next_attempt_at_idx ON osv.vector_outbox (next_attempt_at, summary_id) WHERE state OPERATOR(pg_catalog.=) 'pending';

CREATE SEQUENCE osv.vector_outbox_claim_seq AS bigint;
COMMENT ON SEQUENCE osv.vector_outbox_claim_seq IS 'numbers of claimed outbox batches';

/*
 * The sync target (the configured Qdrant collection): failures that concern
 * the target as a whole rather than one entry (Qdrant unreachable, wrong API
 * key, 429, 5xx) are recorded here and hold back every entry until
 * retry_at, without counting as attempts of the entries.
 */
CREATE TABLE osv.vector_sync_targets (
	target text NOT NULL,
	retry_at timestamptz,
	consecutive_failures integer NOT NULL DEFAULT 0,
	last_error text,
	last_error_at timestamptz,
	last_success_at timestamptz,
	synced_url text,
	CONSTRAINT vector_sync_targets_pkey PRIMARY KEY (target)
);
COMMENT ON TABLE osv.vector_sync_targets IS 'state of each target of the vector sync (Qdrant)';
COMMENT ON COLUMN osv.vector_sync_targets.target IS 'name of the target';
COMMENT ON COLUMN osv.vector_sync_targets.retry_at IS 'no batch is sent before this time (backoff after a failure of the whole target)';
COMMENT ON COLUMN osv.vector_sync_targets.consecutive_failures IS 'failures of the whole target since the last success';
COMMENT ON COLUMN osv.vector_sync_targets.last_error IS 'error of the last failure of the whole target; NULL after a success';
COMMENT ON COLUMN osv.vector_sync_targets.last_error_at IS 'when the last failure of the whole target happened';
COMMENT ON COLUMN osv.vector_sync_targets.last_success_at IS 'when a batch last reached the target';
COMMENT ON COLUMN osv.vector_sync_targets.synced_url IS 'osv.qdrant_url the outbox was last backfilled for (by osv.vector_resync())';
INSERT INTO osv.vector_sync_targets (target) VALUES ('qdrant');

CREATE FUNCTION osv.vector_enqueue()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_vector_enqueue';
COMMENT ON FUNCTION osv.vector_enqueue() IS 'trigger: enqueue summaries whose Qdrant point changes into osv.vector_outbox';

/*
 * Row triggers see every change of a summary, also those made by the
 * soft-delete cascades of documents and users (they UPDATE
 * summaries.deleted_at); the function enqueues only when the point's
 * desired state changes (visibility, embedding, user_id, topic,
 * created_at).  The WHEN clauses, a superset of those conditions, keep the
 * after-trigger queue empty for the writes that cannot matter (a summary
 * stored without an embedding, a change of its content), which costs an
 * AFTER ROW trigger most of its price.
 */
CREATE TRIGGER vector_enqueue_insert AFTER INSERT ON osv.summaries
	FOR EACH ROW WHEN (NEW.embedding IS NOT NULL AND NEW.deleted_at IS NULL)
	EXECUTE FUNCTION osv.vector_enqueue();
CREATE TRIGGER vector_enqueue_update AFTER UPDATE ON osv.summaries
	FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding
					   OR (OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.deleted_at IS NULL)
					   OR OLD.id IS DISTINCT FROM NEW.id
					   OR OLD.user_id IS DISTINCT FROM NEW.user_id
					   OR OLD.topic IS DISTINCT FROM NEW.topic
					   OR OLD.created_at IS DISTINCT FROM NEW.created_at)
	EXECUTE FUNCTION osv.vector_enqueue();
CREATE TRIGGER vector_enqueue_delete AFTER DELETE ON osv.summaries
	FOR EACH ROW WHEN (OLD.embedding IS NOT NULL AND OLD.deleted_at IS NULL)
	EXECUTE FUNCTION osv.vector_enqueue();
CREATE TRIGGER vector_enqueue_truncate AFTER TRUNCATE ON osv.summaries
	FOR EACH STATEMENT EXECUTE FUNCTION osv.vector_enqueue();

CREATE FUNCTION osv.vector_sync(max_entries integer DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_sync';
COMMENT ON FUNCTION osv.vector_sync(integer) IS 'send pending outbox entries to Qdrant in this session; returns the entries completed';

CREATE FUNCTION osv.vector_resync()
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_resync';
COMMENT ON FUNCTION osv.vector_resync() IS 'enqueue every live summary that has an embedding; returns how many';

CREATE FUNCTION osv.vector_reconcile()
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_reconcile';
COMMENT ON FUNCTION osv.vector_reconcile() IS 'compare Qdrant with the summaries and enqueue every point that is orphaned, missing or stale; returns how many';

CREATE FUNCTION osv.qdrant_search(query real[], k integer, user_id bigint, topic text, exclude_summary_id bigint)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_qdrant_search';
COMMENT ON FUNCTION osv.qdrant_search(real[], integer, bigint, text, bigint) IS 'nearest live summaries by cosine similarity, from Qdrant; NULL filters are not applied';

CREATE FUNCTION osv.qdrant_delete_user_points(user_id bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_qdrant_delete_user_points';
COMMENT ON FUNCTION osv.qdrant_delete_user_points(bigint) IS 'delete every Qdrant point of a user now (GDPR erasure); nothing in the embedded mode';

CREATE FUNCTION osv.vector_sync_claim(max_entries integer)
RETURNS TABLE (claim_id bigint, summary_id bigint, version bigint, upsert boolean)
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_sync_claim';
COMMENT ON FUNCTION osv.vector_sync_claim(integer) IS 'claim due outbox entries as osv.vector_sync() does (for external drainers and tests)';

CREATE FUNCTION osv.vector_sync_complete(claim_id bigint, summary_ids bigint[])
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_sync_complete';
COMMENT ON FUNCTION osv.vector_sync_complete(bigint, bigint[]) IS 'record that claimed entries reached Qdrant and release the rest of the claim; returns the entries completed';

REVOKE ALL ON FUNCTION osv.vector_sync_claim(integer), osv.vector_sync_complete(bigint, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.vector_sync(integer), osv.vector_resync(), osv.vector_reconcile(),
	osv.qdrant_delete_user_points(bigint) FROM PUBLIC;

CREATE VIEW osv.vector_sync_status AS
SELECT t.target,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') AS pending,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'failed') AS failed,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.claim_id IS NOT NULL) AS in_flight,
	   pg_catalog.now() OPERATOR(pg_catalog.-)
		   (SELECT pg_catalog.min(o.enqueued_at) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') AS oldest_pending_age,
	   COALESCE(t.last_error,
				(SELECT o.last_error FROM osv.vector_outbox o
				  WHERE o.state OPERATOR(pg_catalog.=) 'failed'
				  ORDER BY o.last_attempt_at DESC NULLS LAST LIMIT 1)) AS last_error,
	   t.last_error_at,
	   t.last_success_at,
	   t.retry_at,
	   t.consecutive_failures
  FROM osv.vector_sync_targets t;
COMMENT ON VIEW osv.vector_sync_status IS 'state of the vector sync: pending and failed entries, age of the oldest pending change, last error';
COMMENT ON COLUMN osv.vector_sync_status.target IS 'name of the sync target';
COMMENT ON COLUMN osv.vector_sync_status.pending IS 'outbox entries waiting to be sent';
COMMENT ON COLUMN osv.vector_sync_status.failed IS 'outbox entries parked after too many failed attempts';
COMMENT ON COLUMN osv.vector_sync_status.in_flight IS 'outbox entries claimed by a batch being sent';
COMMENT ON COLUMN osv.vector_sync_status.oldest_pending_age IS 'age of the oldest pending change; NULL when nothing is pending';
COMMENT ON COLUMN osv.vector_sync_status.last_error IS 'last failure of the target, else the error of the last parked entry';
COMMENT ON COLUMN osv.vector_sync_status.last_error_at IS 'when the target last failed';
COMMENT ON COLUMN osv.vector_sync_status.last_success_at IS 'when a batch last reached the target';
COMMENT ON COLUMN osv.vector_sync_status.retry_at IS 'no batch is sent before this time (backoff of the target)';
COMMENT ON COLUMN osv.vector_sync_status.consecutive_failures IS 'failures of the target since its last success';

/*
 * src/sql/search.sql: embeddings, search and recommendations of the vector
 * layer (DESIGN.md section 5)
 *
 * The public functions osv.search_summaries(), osv.similar_summaries() and
 * osv.refresh_recommendations() choose their engine at run time through
 * osv.vector_search(): with osv.qdrant_url set they ask Qdrant (through
 * osv.qdrant_search(), defined with the Qdrant client), with it empty they
 * run the exact in-database scan osv.search_embedded() (src/embedding.c).
 * PL/pgSQL resolves osv.qdrant_search() only when that branch runs.
 */

/*
 * Keep embeddings inline and uncompressed, so that the embedded search
 * reads them in place in the shared buffer: MAIN compresses or moves a
 * value out of line only when the row cannot fit a page otherwise (the
 * summary text goes first).  At 384 dimensions an embedding takes 1.5 kB
 * and stays inline.
 */
ALTER TABLE osv.summaries ALTER COLUMN embedding SET STORAGE MAIN;

CREATE FUNCTION osv.embed_text(content text)
RETURNS real[]
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_embed_text';
COMMENT ON FUNCTION osv.embed_text(text) IS 'deterministic, model-free embedding of a text (hashed words and word pairs, normalised) with osv.vector_dimensions dimensions';

/* ------------------------------------------------------------------------
 * Validation of embeddings
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.check_embedding()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_check_embedding';
COMMENT ON FUNCTION osv.check_embedding() IS 'trigger: refuse embeddings of the wrong dimension, with null, NaN or infinite elements, or all zero';

CREATE TRIGGER check_embedding BEFORE INSERT OR UPDATE OF embedding ON osv.summaries
	FOR EACH ROW EXECUTE FUNCTION osv.check_embedding();

CREATE FUNCTION osv.check_search_arguments(query real[], k integer)
RETURNS void
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_check_search_arguments';
COMMENT ON FUNCTION osv.check_search_arguments(real[], integer) IS 'raise the error of a bad query vector or number of results, as every search does';

/* ------------------------------------------------------------------------
 * The embedded search
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.search_embedded(query real[], k integer DEFAULT 10, user_id bigint DEFAULT NULL,
									topic text DEFAULT NULL, exclude_summary_id bigint DEFAULT NULL,
									exclude_user_id bigint DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
AS 'MODULE_PATHNAME', 'osv_search_embedded';
COMMENT ON FUNCTION osv.search_embedded(real[], integer, bigint, text, bigint, bigint) IS 'exact in-database cosine search over live summaries, best first (the embedded mode)';

CREATE FUNCTION osv.embedding_centroid(embeddings real[])
RETURNS real[]
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_embedding_centroid';
COMMENT ON FUNCTION osv.embedding_centroid(real[]) IS 'normalised mean of the normalised rows of a two-dimensional array of embeddings';

/*
 * The engine switch.  In Qdrant mode the answer is checked against the
 * database, so that a summary trashed (or moved) since the last sync is
 * never returned: Qdrant may lag behind the outbox.  Qdrant filters on an
 * owner but not on "not this owner", so an excluded owner's summaries are
 * filtered here after asking for that many more results.
 */
CREATE FUNCTION osv.vector_search(search_query real[], result_limit integer, only_user_id bigint,
								  only_topic text, skip_summary_id bigint, skip_user_id bigint)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE plpgsql STABLE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fetch_limit integer := result_limit;
BEGIN
	/* Also loads osv.so, which defines the settings read below. */
	PERFORM osv.check_search_arguments(search_query, result_limit);

	IF current_setting('osv.qdrant_url') = '' THEN
		RETURN QUERY
			SELECT e.summary_id, e.score
			FROM osv.search_embedded(search_query, result_limit, only_user_id, only_topic,
									 skip_summary_id, skip_user_id) e;
		RETURN;
	END IF;

	IF skip_user_id IS NOT NULL THEN
		SELECT least(1000, result_limit + count(*)) INTO fetch_limit
		FROM osv.summaries s
		WHERE s.user_id = skip_user_id AND s.deleted_at IS NULL AND s.embedding IS NOT NULL;
	END IF;
	RETURN QUERY
		SELECT q.summary_id, q.score
		FROM osv.qdrant_search(search_query, fetch_limit, only_user_id, only_topic, skip_summary_id) q
		JOIN osv.summaries s ON s.id = q.summary_id
		WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL
		  AND (only_user_id IS NULL OR s.user_id = only_user_id)
		  AND (only_topic IS NULL OR s.topic = only_topic)
		  AND (skip_user_id IS NULL OR s.user_id <> skip_user_id)
		ORDER BY q.score DESC, q.summary_id
		LIMIT result_limit;
END
$$;
COMMENT ON FUNCTION osv.vector_search(real[], integer, bigint, text, bigint, bigint) IS 'cosine search by Qdrant when osv.qdrant_url is set, else in-database; only live summaries';

/* ------------------------------------------------------------------------
 * The public search functions (DESIGN.md section 5)
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.search_summaries(query real[], k integer DEFAULT 10, user_id bigint DEFAULT NULL,
									 topic text DEFAULT NULL)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
AS $$
	SELECT r.summary_id, r.score FROM osv.vector_search($1, $2, $3, $4, NULL, NULL) r
$$;
COMMENT ON FUNCTION osv.search_summaries(real[], integer, bigint, text) IS 'live summaries most similar to a query vector (cosine), best first; optionally of one user or topic';

/* The embedding of a live summary, or the error saying why it has none. */
CREATE FUNCTION osv.summary_embedding(summary_id bigint)
RETURNS real[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target bigint := summary_embedding.summary_id;
	is_live boolean;
	result real[];
BEGIN
	IF target IS NULL THEN
		RAISE EXCEPTION 'summary_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT s.deleted_at IS NULL, s.embedding INTO is_live, result
	FROM osv.summaries s WHERE s.id = target;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'summary % does not exist', target USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT is_live THEN
		RAISE EXCEPTION 'summary % is trashed', target
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Trashed summaries are not searchable until restored with osv.restore().';
	END IF;
	IF result IS NULL THEN
		RAISE EXCEPTION 'summary % has no embedding', target
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Store an embedding in osv.summaries.embedding, for example osv.embed_text(content).';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION osv.summary_embedding(bigint) IS 'embedding of a live summary; an error if the summary is unknown, trashed or not embedded';

/*
 * SQL rather than PL/pgSQL: the contract names both the argument and a
 * result column summary_id, which PL/pgSQL does not allow.
 */
CREATE FUNCTION osv.similar_summaries(summary_id bigint, k integer DEFAULT 10)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE sql STABLE ROWS 10
AS $$
	SELECT r.summary_id, r.score
	FROM osv.vector_search(osv.summary_embedding($1), $2, NULL, NULL, $1, NULL) r
$$;
COMMENT ON FUNCTION osv.similar_summaries(bigint, integer) IS 'live summaries most similar to a summary (cosine), itself excluded, best first';

/*
 * Recommendations: the live summaries of other users closest to the
 * centroid of the user's own most recent live embedded summaries (up to
 * 20, each weighing the same).  One search around the centroid rather than
 * one per summary: it finds what is close to the user's recent interests
 * as a whole, costs one scan, and cannot be dominated by one summary's
 * near duplicates.  The new set replaces the user's unrevoked set, which
 * is revoked (kept for history, not deleted), in one transaction.
 * Concurrent refreshes of one user are serialized by an advisory lock.
 */
CREATE FUNCTION osv.refresh_recommendations(user_id bigint, k integer DEFAULT 10)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	target bigint := refresh_recommendations.user_id;
	ttl interval;
	is_live boolean;
	centroid real[];
	stored integer;
BEGIN
	IF target IS NULL THEN
		RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF k IS NULL THEN
		RAISE EXCEPTION 'k must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF k < 1 OR k > 1000 THEN
		RAISE EXCEPTION 'k must be between 1 and 1000'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('k is %s.', k);
	END IF;
	/* Also loads osv.so, which defines osv.vector_dimensions. */
	ttl := osv.setting_interval('osv.recommendation_ttl');

	PERFORM pg_advisory_xact_lock(hashtext('osv.refresh_recommendations'), hashint8(target));
	SELECT u.deleted_at IS NULL INTO is_live FROM osv.users u WHERE u.id = target FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', target USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT is_live THEN
		RAISE EXCEPTION 'user % is trashed', target USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;

	SELECT osv.embedding_centroid(array_agg(r.embedding)) INTO centroid
	FROM (SELECT s.embedding
		  FROM osv.summaries s
		  WHERE s.user_id = target AND s.deleted_at IS NULL AND s.embedding IS NOT NULL
			AND array_ndims(s.embedding) = 1
			AND array_length(s.embedding, 1) = current_setting('osv.vector_dimensions')::integer
		  ORDER BY s.created_at DESC, s.id DESC
		  LIMIT 20) r;

	/*
	 * Trashed ones too: were they restored later (with the summary they
	 * point to), they would come back as part of a set that was replaced.
	 */
	UPDATE osv.recommendations r SET revoked_at = now()
	WHERE r.user_id = target AND r.revoked_at IS NULL;

	IF centroid IS NULL THEN
		RETURN 0;
	END IF;
	INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at)
	SELECT target, v.summary_id, v.score, now() + ttl
	FROM osv.vector_search(centroid, k, NULL, NULL, NULL, target) v;
	GET DIAGNOSTICS stored = ROW_COUNT;
	RETURN stored;
END
$$;
COMMENT ON FUNCTION osv.refresh_recommendations(bigint, integer) IS 'store the live summaries of other users closest to the user''s recent summaries as their recommendations, revoking the previous set; returns how many';

/* src/sql/compliance.sql: GDPR duties (export, erasure) and tokenized analytics */

/*
 * Analytics see users only through a token: a SHA-256 of the user id keyed
 * with a secret drawn at install time.  The token is stable (the same user
 * always has the same token, also across pg_dump and restore, since the
 * secret is configuration) and cannot be turned back into a user id without
 * the secret, which only superusers can read.
 */
CREATE TABLE osv.analytics_secret (
	secret bytea NOT NULL,
	singleton boolean NOT NULL DEFAULT true,
	CONSTRAINT analytics_secret_pkey PRIMARY KEY (singleton),
	CONSTRAINT analytics_secret_singleton_check CHECK (singleton),
	CONSTRAINT analytics_secret_secret_check CHECK (pg_catalog.length(secret) OPERATOR(pg_catalog.>=) 32)
);
COMMENT ON TABLE osv.analytics_secret IS 'secret key of the analytics tokens (one row); readable by superusers only';
COMMENT ON COLUMN osv.analytics_secret.secret IS 'random key mixed into every analytics token';
COMMENT ON COLUMN osv.analytics_secret.singleton IS 'always true: the table holds one row';
INSERT INTO osv.analytics_secret (secret)
SELECT pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex');
SELECT pg_catalog.pg_extension_config_dump('osv.analytics_secret', '');
REVOKE ALL ON osv.analytics_secret FROM PUBLIC;

CREATE FUNCTION osv.analytics_token(user_id bigint)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.encode(pg_catalog.sha256(s.secret OPERATOR(pg_catalog.||)
				pg_catalog.convert_to(user_id::text, 'UTF8')), 'hex')
	FROM osv.analytics_secret s;
END;
COMMENT ON FUNCTION osv.analytics_token(bigint) IS 'stable pseudonymous token of a user for analytics';
REVOKE ALL ON FUNCTION osv.analytics_token(bigint) FROM PUBLIC;

CREATE VIEW osv.analytics_events AS
SELECT osv.analytics_token(l.user_id) AS user_token,
	   l.event_type,
	   l.occurred_at,
	   l.properties
FROM osv.activity_logs l
JOIN osv.users u ON u.id OPERATOR(pg_catalog.=) l.user_id
WHERE u.deleted_at IS NULL;
COMMENT ON VIEW osv.analytics_events IS 'activity for analysts, keyed by a per-user token instead of user id or e-mail; trashed users excluded';
COMMENT ON COLUMN osv.analytics_events.user_token IS 'pseudonymous token of the user (osv.analytics_token)';
COMMENT ON COLUMN osv.analytics_events.event_type IS 'kind of event';
COMMENT ON COLUMN osv.analytics_events.occurred_at IS 'when the event happened';
COMMENT ON COLUMN osv.analytics_events.properties IS 'details of the event as the app logged them';

/*
 * Files of erased users wait here until the object-storage janitor has
 * deleted them from MinIO/S3 (the database cannot reach object storage
 * inside a transaction; a queue keeps the erasure atomic).
 */
CREATE TABLE osv.storage_deletions (
	id bigint GENERATED ALWAYS AS IDENTITY,
	storage_bucket text NOT NULL,
	storage_key text NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	CONSTRAINT storage_deletions_pkey PRIMARY KEY (id)
);
COMMENT ON TABLE osv.storage_deletions IS 'stored files to delete from object storage after an erasure';
COMMENT ON COLUMN osv.storage_deletions.id IS 'surrogate key';
COMMENT ON COLUMN osv.storage_deletions.storage_bucket IS 'bucket of the file';
COMMENT ON COLUMN osv.storage_deletions.storage_key IS 'object key of the file';
COMMENT ON COLUMN osv.storage_deletions.requested_at IS 'when the erasure asked for the deletion';
COMMENT ON COLUMN osv.storage_deletions.deleted_at IS 'when the janitor confirmed the deletion; NULL while pending';
CREATE INDEX storage_deletions_pending_idx ON osv.storage_deletions (requested_at) WHERE deleted_at IS NULL;

CREATE TABLE osv.erasure_receipts (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	erased_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	erased jsonb NOT NULL,
	CONSTRAINT erasure_receipts_pkey PRIMARY KEY (id)
);
COMMENT ON TABLE osv.erasure_receipts IS 'proof of each GDPR erasure, holding no personal data';
COMMENT ON COLUMN osv.erasure_receipts.id IS 'receipt number, returned to the caller';
COMMENT ON COLUMN osv.erasure_receipts.erased_at IS 'when the erasure committed';
COMMENT ON COLUMN osv.erasure_receipts.erased IS 'how many rows of each kind were erased';

/* The rows of one table that belong to a user, as a JSON array ordered by id. */
CREATE FUNCTION osv.user_rows_json(tbl regclass, owner_column text, user_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rows jsonb;
BEGIN
	EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t) - ''trash_batch'' ORDER BY t.id), ''[]'') FROM %s t WHERE t.%I = $1',
				   tbl, owner_column)
		INTO rows USING user_id;
	RETURN rows;
END
$$;
COMMENT ON FUNCTION osv.user_rows_json(regclass, text, bigint) IS 'rows of a table owned by a user, as a JSON array';

/*
 * Raise the error of an unknown user (trashed users count: their data is
 * exported and erased too).  Locks the user row FOR KEY SHARE, or FOR
 * UPDATE for an erasure, so that no new content can be added under the
 * user while the erasure counts and deletes.
 */
CREATE FUNCTION osv.check_user_exists(user_id bigint, for_erasure boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF for_erasure THEN
		PERFORM FROM osv.users u WHERE u.id = user_id FOR UPDATE;
	ELSE
		PERFORM FROM osv.users u WHERE u.id = user_id FOR KEY SHARE;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'no_data_found';
	END IF;
END
$$;
COMMENT ON FUNCTION osv.check_user_exists(bigint, boolean) IS 'raise an error unless the user exists, trashed or not; lock the user row';

CREATE FUNCTION osv.data_export(user_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	export jsonb;
	archived jsonb := '[]';
BEGIN
	PERFORM osv.check_user_exists(user_id);

	IF to_regclass('osv.activity_logs_archive') IS NOT NULL THEN
		archived := osv.user_rows_json('osv.activity_logs_archive', 'user_id', user_id);
	END IF;

	SELECT jsonb_build_object(
		'format', 'osv.data_export/1',
		'exported_at', now(),
		'user', (SELECT to_jsonb(u) - 'trash_batch' FROM osv.users u WHERE u.id = user_id),
		'documents', osv.user_rows_json('osv.documents', 'user_id', user_id),
		'summaries', osv.user_rows_json('osv.summaries', 'user_id', user_id),
		'recommendations', osv.user_rows_json('osv.recommendations', 'user_id', user_id),
		'quizzes', osv.user_rows_json('osv.quizzes', 'user_id', user_id),
		'answers', osv.user_rows_json('osv.answers', 'user_id', user_id),
		'rooms', osv.user_rows_json('osv.rooms', 'user_id', user_id),
		'room_participations', osv.user_rows_json('osv.room_participations', 'user_id', user_id),
		'activity_logs', osv.user_rows_json('osv.activity_logs', 'user_id', user_id),
		'archived_activity_logs', archived,
		'awards', (SELECT coalesce(jsonb_agg(jsonb_build_object('badge', b.slug, 'name', b.name, 'awarded_at', a.awarded_at)
											  ORDER BY a.awarded_at, b.slug), '[]')
				   FROM osv.awards a JOIN osv.badges b ON b.id = a.badge_id WHERE a.user_id = data_export.user_id),
		'points', osv.user_rows_json('osv.points', 'user_id', user_id))
	INTO export;
	RETURN export;
END
$$;
COMMENT ON FUNCTION osv.data_export(bigint) IS 'everything held about a user, trashed rows included (GDPR art. 15 and 20)';

CREATE FUNCTION osv.data_delete(user_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	erased jsonb;
	receipt osv.erasure_receipts;
	files bigint;
	sweep text;
	sweep_error text;
BEGIN
	PERFORM osv.check_user_exists(user_id, for_erasure => true);

	SELECT jsonb_build_object(
		'users', 1,
		'documents', (SELECT count(*) FROM osv.documents d WHERE d.user_id = data_delete.user_id),
		'summaries', (SELECT count(*) FROM osv.summaries s WHERE s.user_id = data_delete.user_id),
		'recommendations', (SELECT count(*) FROM osv.recommendations r WHERE r.user_id = data_delete.user_id),
		'quizzes', (SELECT count(*) FROM osv.quizzes q WHERE q.user_id = data_delete.user_id),
		'answers', (SELECT count(*) FROM osv.answers a WHERE a.user_id = data_delete.user_id),
		'rooms', (SELECT count(*) FROM osv.rooms r WHERE r.user_id = data_delete.user_id),
		'room_participations', (SELECT count(*) FROM osv.room_participations p WHERE p.user_id = data_delete.user_id),
		'activity_logs', (SELECT count(*) FROM osv.activity_logs l WHERE l.user_id = data_delete.user_id),
		'awards', (SELECT count(*) FROM osv.awards a WHERE a.user_id = data_delete.user_id),
		'points', (SELECT count(*) FROM osv.points p WHERE p.user_id = data_delete.user_id))
	INTO erased;

	INSERT INTO osv.storage_deletions (storage_bucket, storage_key)
	SELECT d.storage_bucket, d.storage_key FROM osv.documents d WHERE d.user_id = data_delete.user_id;
	GET DIAGNOSTICS files = ROW_COUNT;

	/*
	 * The foreign keys cascade to every row of the user, archived logs too;
	 * deleting the summaries enqueues the deletion of their Qdrant points
	 * in the vector outbox, in this transaction.
	 */
	DELETE FROM osv.users u WHERE u.id = user_id;

	/*
	 * Also sweep Qdrant by the user filter now, for points the outbox does
	 * not know of (written before a restore from backup, say).  A Qdrant
	 * that cannot be reached must not block an erasure: the outbox still
	 * deletes every point of the user's summaries once Qdrant answers, and
	 * osv.vector_reconcile() removes any other orphan.  The call is bounded
	 * by osv.qdrant_timeout.
	 */
	BEGIN
		PERFORM osv.qdrant_delete_user_points(user_id);
		sweep := CASE WHEN current_setting('osv.qdrant_url') = '' THEN 'embedded mode: nothing stored outside the database'
					  ELSE 'deleted by user filter' END;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS sweep_error = MESSAGE_TEXT;
		RAISE WARNING 'could not sweep Qdrant points of the erased user: %', sweep_error
			USING HINT = 'The vector outbox deletes the points of the user''s summaries once Qdrant answers.';
		sweep := 'queued in the vector outbox (Qdrant did not answer)';
	END;

	INSERT INTO osv.erasure_receipts (erased)
	VALUES (erased || jsonb_build_object('stored_files_queued', files, 'vector_points', sweep))
	RETURNING * INTO receipt;
	RETURN jsonb_build_object('receipt', receipt.id, 'erased_at', receipt.erased_at) || receipt.erased;
END
$$;
COMMENT ON FUNCTION osv.data_delete(bigint) IS 'erase a user everywhere (rows, vectors, stored files); returns a receipt without personal data';

/* src/sql/retention.sql: retention jobs (DESIGN.md section 6) and their run records */

/*
 * Every job is a plain SQL function that pg_cron, the scheduler worker
 * (src/scheduler.c) or a person can call:
 *
 *   osv.archive_activity_logs(older_than)   whole UTC days of activity logs
 *                                           older than older_than move to
 *                                           osv.activity_logs_archive
 *   osv.delete_abandoned_rooms(idle_for)    idle live rooms are trashed
 *   osv.revoke_expired_recommendations()    expired live recommendations
 *                                           get revoked_at
 *   osv.purge_trashed(older_than)           long-trashed rows are deleted
 *   osv.clean_job_runs(older_than)          old records of osv.job_runs go
 *
 * osv.run_retention() runs them all with their settings (osv.run_job() runs
 * one by name), and CALL osv.archive_activity_logs_stepwise() archives a
 * backlog of many days one partition per transaction.
 *
 * Each job takes a transaction-level advisory lock of its own with
 * pg_try_advisory_xact_lock: a second run of the same job while the first
 * is in progress returns 0 at once, records itself as skipped and changes
 * nothing.  Each job is idempotent: a second run after the first finds
 * nothing left to do.  Each run that ends, successful or skipped, leaves a
 * row in osv.job_runs; a failing run raises its error to the caller, and
 * osv.run_job() / osv.run_retention() record it as failed.
 *
 * Locks: the row jobs change rows in batches of osv.retention_batch_size
 * with FOR UPDATE SKIP LOCKED, so they never wait for the application's row
 * locks (a row the application holds is taken by the next run).  Archiving
 * takes ACCESS EXCLUSIVE on osv.activity_logs for the DETACH of whole
 * partitions, bounded by lock_timeout; it is the last job of
 * osv.run_retention() so that the lock is held from the first DETACH to
 * the commit and no longer.
 */

/* ------------------------------------------------------------------------
 * Run records
 * ------------------------------------------------------------------------
 */
CREATE TABLE osv.job_runs (
	id bigint GENERATED ALWAYS AS IDENTITY,
	job text NOT NULL,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL,
	affected bigint NOT NULL DEFAULT 0,
	outcome text NOT NULL,
	error text,
	CONSTRAINT job_runs_pkey PRIMARY KEY (id),
	CONSTRAINT job_runs_outcome_check CHECK (outcome OPERATOR(pg_catalog.=) ANY (ARRAY['succeeded', 'skipped', 'failed'])),
	CONSTRAINT job_runs_error_check CHECK ((outcome OPERATOR(pg_catalog.=) 'failed') OPERATOR(pg_catalog.=) (error IS NOT NULL)),
	CONSTRAINT job_runs_finished_at_check CHECK (finished_at OPERATOR(pg_catalog.>=) started_at),
	CONSTRAINT job_runs_affected_check CHECK (affected OPERATOR(pg_catalog.>=) 0)
);
COMMENT ON TABLE osv.job_runs IS 'one row per run of a retention job; kept for osv.job_runs_retention';
COMMENT ON COLUMN osv.job_runs.id IS 'surrogate key';
COMMENT ON COLUMN osv.job_runs.job IS 'name of the job, such as archive_activity_logs';
COMMENT ON COLUMN osv.job_runs.started_at IS 'when the run started (clock time)';
COMMENT ON COLUMN osv.job_runs.finished_at IS 'when the run ended (clock time)';
COMMENT ON COLUMN osv.job_runs.affected IS 'rows the run archived, trashed, revoked or deleted';
COMMENT ON COLUMN osv.job_runs.outcome IS 'succeeded, skipped (another run of the job was in progress) or failed';
COMMENT ON COLUMN osv.job_runs.error IS 'error message of a failed run; NULL otherwise';

CREATE INDEX job_runs_started_at_idx ON osv.job_runs (started_at);
CREATE INDEX job_runs_job_started_at_idx ON osv.job_runs (job, started_at);

/* Trashed rows are found by age; the indexes hold trashed rows only. */
CREATE INDEX users_deleted_at_idx ON osv.users (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX documents_deleted_at_idx ON osv.documents (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX summaries_deleted_at_idx ON osv.summaries (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX recommendations_deleted_at_idx ON osv.recommendations (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX quizzes_deleted_at_idx ON osv.quizzes (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX answers_deleted_at_idx ON osv.answers (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX rooms_deleted_at_idx ON osv.rooms (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX room_participations_deleted_at_idx ON osv.room_participations (deleted_at) WHERE deleted_at IS NOT NULL;

/* Record one run of a job; returns affected. */
CREATE FUNCTION osv.record_job_run(job text, started_at timestamptz, affected bigint,
								   outcome text, error text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	INSERT INTO osv.job_runs (job, started_at, finished_at, affected, outcome, error)
	VALUES (job, started_at, pg_catalog.clock_timestamp(), affected, outcome, error);
	SELECT affected;
END;
COMMENT ON FUNCTION osv.record_job_run(text, timestamptz, bigint, text, text) IS 'record one run of a retention job in osv.job_runs';

/*
 * The advisory lock of a job: pg_try_advisory_xact_lock(7303030, n), where
 * 7303030 is "osv" in ASCII and n the job's number below.  Returns false
 * when another transaction holds it.
 */
CREATE FUNCTION osv.try_job_lock(job text)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.pg_try_advisory_xact_lock(7303030,
		CASE job
			WHEN 'archive_activity_logs' THEN 1
			WHEN 'delete_abandoned_rooms' THEN 2
			WHEN 'revoke_expired_recommendations' THEN 3
			WHEN 'purge_trashed' THEN 4
			WHEN 'clean_job_runs' THEN 5
			WHEN 'create_activity_log_partitions' THEN 6
		END);
END;
COMMENT ON FUNCTION osv.try_job_lock(text) IS 'take the advisory lock of a retention job for the transaction; false if another run holds it';

/*
 * Check the interval argument of a job: not NULL, positive with no
 * negative part, and shorter than 100 years (older than that is surely a
 * mistake, and now() minus it may leave the timestamp range).
 */
CREATE FUNCTION osv.check_job_interval(arg text, value interval)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NULL THEN
		RAISE EXCEPTION '% must not be null', arg
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	/* Interval subtraction works field by field: this is the time part. */
	IF extract(year FROM value) * 12 + extract(month FROM value) < 0
	   OR extract(day FROM value) < 0
	   OR value - date_trunc('day', value) < interval '0'
	   OR value = interval '0' THEN
		RAISE EXCEPTION 'invalid value "%" for %', value, arg
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The interval must be positive and have no negative part.';
	END IF;
	IF value >= interval '100 years' THEN
		RAISE EXCEPTION 'invalid value "%" for %', value, arg
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The interval must be shorter than 100 years.';
	END IF;
	RETURN value;
END
$$;
COMMENT ON FUNCTION osv.check_job_interval(text, interval) IS 'raise an error unless an interval argument of a retention job is positive and shorter than 100 years';

/* osv.retention_batch_size, read after osv.so is loaded so that it exists. */
CREATE FUNCTION osv.retention_batch_size()
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	/* A C function of osv loads the library, which defines the setting. */
	PERFORM osv.setting_interval('osv.trash_retention');
	RETURN current_setting('osv.retention_batch_size')::integer;
END
$$;
COMMENT ON FUNCTION osv.retention_batch_size() IS 'value of osv.retention_batch_size: rows changed by one statement of a retention job';

/* ------------------------------------------------------------------------
 * Activity log archive
 * ------------------------------------------------------------------------
 */

/*
 * The archive has the columns of osv.activity_logs plus archived_at, and
 * the same indexes, so that a partition detached from activity_logs can be
 * attached here with no rewrite and no index build.  Its partitions are the
 * former partitions of activity_logs (renamed activity_logs_archive_pDAY)
 * and, for rows that moved one by one, daily partitions made on demand.
 * There is no default partition: attaching would have to scan it.
 */
CREATE TABLE osv.activity_logs_archive (
	id bigint NOT NULL,
	user_id bigint NOT NULL,
	event_type text NOT NULL,
	occurred_at timestamptz NOT NULL,
	properties jsonb NOT NULL,
	archived_at timestamptz NOT NULL,
	CONSTRAINT activity_logs_archive_pkey PRIMARY KEY (id, occurred_at),
	CONSTRAINT activity_logs_archive_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE osv.activity_logs_archive IS 'activity logs older than osv.activity_log_retention, moved by osv.archive_activity_logs()';
COMMENT ON COLUMN osv.activity_logs_archive.id IS 'id the log had in osv.activity_logs';
COMMENT ON COLUMN osv.activity_logs_archive.user_id IS 'user who acted (osv.users); deleting the user deletes the archived logs too';
COMMENT ON COLUMN osv.activity_logs_archive.event_type IS 'kind of event, such as quiz.submitted';
COMMENT ON COLUMN osv.activity_logs_archive.occurred_at IS 'when the event happened';
COMMENT ON COLUMN osv.activity_logs_archive.properties IS 'details of the event, a JSON object';
COMMENT ON COLUMN osv.activity_logs_archive.archived_at IS 'when the log was archived';

CREATE INDEX activity_logs_archive_user_id_occurred_at_idx ON osv.activity_logs_archive (user_id, occurred_at);
CREATE INDEX activity_logs_archive_event_type_occurred_at_idx ON osv.activity_logs_archive (event_type, occurred_at);
CREATE INDEX activity_logs_archive_occurred_at_idx ON osv.activity_logs_archive (occurred_at);

/*
 * The partitions of a table partitioned by a range of timestamptz, with
 * their bounds (lower NULL for MINVALUE, upper NULL for MAXVALUE; both
 * NULL for the default partition): the default first, then in the order of
 * their bounds.  With "below" given, only those that start before it (and
 * the default).  Read from the relcache (src/partitions.c).
 */
CREATE FUNCTION osv.partitions_of(parent regclass, below timestamptz DEFAULT NULL)
RETURNS TABLE (partition regclass, lower_bound timestamptz, upper_bound timestamptz, is_default boolean)
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'osv_partitions_of';
COMMENT ON FUNCTION osv.partitions_of(regclass, timestamptz) IS 'partitions of a table partitioned by a timestamptz range, with their bounds (only those starting before "below" when given)';

/*
 * Make sure the archive has a partition for every UTC day of the rows of
 * "source" older than "cutoff": a daily partition, with a CHECK constraint
 * equal to its bounds, is created for a day no archive partition covers.
 */
CREATE FUNCTION osv.prepare_archive_days(source regclass, cutoff timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	day date;
	part text;
	day_start timestamptz;
	day_end timestamptz;
BEGIN
	FOR day IN EXECUTE format('SELECT DISTINCT (occurred_at AT TIME ZONE ''UTC'')::date FROM ONLY %s WHERE occurred_at < $1',
							  source) USING cutoff
	LOOP
		day_start := day::timestamp AT TIME ZONE 'UTC';
		day_end := (day + 1)::timestamp AT TIME ZONE 'UTC';
		CONTINUE WHEN EXISTS (SELECT FROM osv.partitions_of('osv.activity_logs_archive') a
							  WHERE NOT a.is_default
								AND (a.lower_bound IS NULL OR a.lower_bound <= day_start)
								AND (a.upper_bound IS NULL OR a.upper_bound >= day_end));
		part := 'activity_logs_archive_p' || to_char(day, 'YYYYMMDD');
		EXECUTE format('CREATE TABLE osv.%I PARTITION OF osv.activity_logs_archive FOR VALUES FROM (%L) TO (%L)',
					   part, day_start, day_end);
		EXECUTE format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
					   part, part || '_bounds', day_start, day_end);
		EXECUTE format('COMMENT ON TABLE osv.%I IS %L', part, 'archived activity logs of ' || day::text || ' (UTC)');
	END LOOP;
END
$$;
COMMENT ON FUNCTION osv.prepare_archive_days(regclass, timestamptz) IS 'create the daily archive partitions that rows of a table older than a cutoff need';

/*
 * Move the rows of "source" (a partition of activity_logs, or a table
 * detached from it) older than "cutoff" into the archive one by one, in
 * batches of "batch" rows: DELETE ... RETURNING feeds the INSERT, so each
 * row is either still in the source or in the archive, never in both.
 * Returns the number of rows moved.
 */
CREATE FUNCTION osv.move_logs_to_archive(source regclass, cutoff timestamptz, batch integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	moved bigint := 0;
	n bigint;
BEGIN
	PERFORM osv.prepare_archive_days(source, cutoff);
	LOOP
		EXECUTE format(
			'WITH moved AS ('
			'  DELETE FROM ONLY %1$s WHERE ctid = ANY (ARRAY('
			'    SELECT ctid FROM ONLY %1$s WHERE occurred_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))'
			'  RETURNING id, user_id, event_type, occurred_at, properties) '
			'INSERT INTO osv.activity_logs_archive (id, user_id, event_type, occurred_at, properties, archived_at) '
			'SELECT id, user_id, event_type, occurred_at, properties, pg_catalog.now() FROM moved',
			source) USING cutoff, batch;
		GET DIAGNOSTICS n = ROW_COUNT;
		moved := moved + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN moved;
END
$$;
COMMENT ON FUNCTION osv.move_logs_to_archive(regclass, timestamptz, integer) IS 'move the rows of a table older than a cutoff into the archive, one by one in batches';

/*
 * The archive's cutoff for older_than: the start (UTC) of the day of
 * now() - older_than (see osv.archive_activity_logs).
 */
CREATE FUNCTION osv.archive_cutoff(older_than interval)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN date_trunc('day', (now() - older_than) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
COMMENT ON FUNCTION osv.archive_cutoff(interval) IS 'activity logs before this time are archived by osv.archive_activity_logs(older_than)';

/*
 * The number of whole partitions of activity_logs that
 * osv.archive_activity_logs(older_than) would archive: what is left of a
 * backlog that is archived a partition at a time.
 */
CREATE FUNCTION osv.archivable_partitions(older_than interval)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cutoff timestamptz;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	cutoff := osv.archive_cutoff(older_than);
	RETURN (SELECT count(*)::integer FROM osv.partitions_of('osv.activity_logs', cutoff) p
			 WHERE NOT p.is_default AND p.upper_bound <= cutoff);
END
$$;
COMMENT ON FUNCTION osv.archivable_partitions(interval) IS 'whole partitions of osv.activity_logs older than the archive cutoff of older_than';

/*
 * osv.archive_activity_logs(older_than)
 *
 * Archives the activity logs of every UTC day that ended at least
 * older_than ago: with cutoff = the start (UTC) of the day of
 * now() - older_than, a log is archived when occurred_at < cutoff.  So a
 * log is archived once it is between older_than and older_than + 1 day
 * old, and a log at exactly the cutoff stays.  Rounding to whole days is
 * what makes the job O(partitions): a cutoff inside a day would move that
 * day's rows one by one at every run, and in steady state every row would
 * move that way.
 *
 * 1. Boundary rows move one by one (osv.move_logs_to_archive): the rows of
 *    the default partition older than the cutoff, and those of a partition
 *    that straddles the cutoff (only possible for a partition made by hand
 *    with bounds that are not whole days).
 * 2. Each partition entirely older than the cutoff is DETACHed from
 *    activity_logs, gets archived_at as a column with a constant default
 *    (a catalog change, no rewrite) and is ATTACHed to the archive; its
 *    CHECK constraint <partition>_bounds proves the partition constraint,
 *    so ATTACH does not scan it, and its indexes become the archive's.
 *    If an archive partition already covers part of its range (rows of
 *    that day were archived one by one before), its rows move one by one
 *    and the empty table is dropped.
 *
 * Step 1, and the counting of the rows of step 2, run first so that the
 * ACCESS EXCLUSIVE lock that the first DETACH takes on activity_logs is
 * held for as short a time as possible: only catalog changes happen under
 * it (about 5 ms per partition).
 * The DETACH waits at most lock_timeout (1 s when lock_timeout is 0, the
 * default); when that expires, the job stops, keeps what it archived and
 * leaves the rest for the next run.
 * Concurrent inserts either commit before the DETACH (their rows move with
 * the partition) or wait for the job's commit and then land in the default
 * partition (archived by the next run): nothing is lost or doubled.
 */
CREATE FUNCTION osv.archive_activity_logs(older_than interval DEFAULT '90 days',
										  max_partitions integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	moved bigint := 0;
	n bigint;
	p record;
	part_name text;
	new_name text;
	caller_lock_timeout text := current_setting('lock_timeout');
	caller_enable_seqscan text := current_setting('enable_seqscan');
	parts regclass[] := '{}';
	lowers timestamptz[] := '{}';
	uppers timestamptz[] := '{}';
	counts bigint[] := '{}';
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	IF max_partitions < 1 THEN
		RAISE EXCEPTION 'max_partitions must be at least 1' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	cutoff := osv.archive_cutoff(older_than);
	IF NOT osv.try_job_lock('archive_activity_logs') THEN
		RETURN osv.record_job_run('archive_activity_logs', started, 0, 'skipped');
	END IF;
	/* Never wait without bound for a lock (restored at the end). */
	IF caller_lock_timeout = '0' THEN
		PERFORM set_config('lock_timeout', '1s', true);
	END IF;

	/* 1. Boundary rows. */
	FOR p IN SELECT * FROM osv.partitions_of('osv.activity_logs', cutoff)
			 WHERE is_default OR ((lower_bound IS NULL OR lower_bound < cutoff)
								  AND (upper_bound IS NULL OR upper_bound > cutoff))
	LOOP
		moved := moved + osv.move_logs_to_archive(p.partition, cutoff, batch);
	END LOOP;

	/*
	 * 2. Whole partitions.  First each is locked in SHARE mode (readers go
	 * on; only writers of those old days wait) and its rows are counted, so
	 * that the counting, the only part that reads rows, happens before the
	 * ACCESS EXCLUSIVE lock on activity_logs that the first DETACH takes.
	 */
	FOR p IN SELECT * FROM osv.partitions_of('osv.activity_logs', cutoff)
			 WHERE NOT is_default AND upper_bound <= cutoff
	LOOP
		EXIT WHEN cardinality(parts) >= max_partitions;
		BEGIN
			EXECUTE format('LOCK TABLE ONLY %s IN SHARE MODE', p.partition);
		EXCEPTION WHEN lock_not_available THEN
			RAISE LOG 'osv: archive_activity_logs could not lock partition %', p.partition;
			EXIT;
		END;
		/*
		 * On a partition that VACUUM marked all-visible (old partitions
		 * are), an index-only scan counts from the index, a fraction of the
		 * heap's size; the planner prefers the heap when it thinks it is
		 * cached, which old logs are not.
		 */
		IF EXISTS (SELECT FROM pg_catalog.pg_class c
				   WHERE c.oid = p.partition AND c.relpages > 0 AND c.relallvisible >= c.relpages) THEN
			PERFORM set_config('enable_seqscan', 'off', true);
		END IF;
		EXECUTE format('SELECT count(*) FROM ONLY %s', p.partition) INTO n;
		PERFORM set_config('enable_seqscan', caller_enable_seqscan, true);
		parts := parts || p.partition;
		lowers := lowers || p.lower_bound;
		uppers := uppers || p.upper_bound;
		counts := counts || n;
	END LOOP;

	FOR i IN 1 .. cardinality(parts) LOOP
		SELECT c.relname INTO part_name FROM pg_catalog.pg_class c WHERE c.oid = parts[i];
		BEGIN
			EXECUTE format('ALTER TABLE osv.activity_logs DETACH PARTITION %s', parts[i]);
		EXCEPTION WHEN lock_not_available THEN
			RAISE LOG 'osv: archive_activity_logs stopped after % rows: could not lock osv.activity_logs', moved;
			EXIT;
		END;
		EXECUTE format('ALTER TABLE %s ADD COLUMN archived_at timestamptz NOT NULL DEFAULT %L',
					   parts[i], now());
		EXECUTE format('ALTER TABLE %s ALTER COLUMN archived_at DROP DEFAULT', parts[i]);
		BEGIN
			EXECUTE format('ALTER TABLE osv.activity_logs_archive ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%L)',
						   parts[i], coalesce(quote_literal(lowers[i]), 'MINVALUE'), uppers[i]);
		EXCEPTION WHEN invalid_object_definition THEN
			/*
			 * An archive partition overlaps (rows of the range were archived
			 * one by one before): move the rows one by one too.
			 */
			moved := moved + osv.move_logs_to_archive(parts[i], 'infinity', batch);
			EXECUTE format('DROP TABLE %s', parts[i]);
			CONTINUE;
		END;
		IF part_name ~ '^activity_logs_p[0-9]{8}$' THEN
			new_name := 'activity_logs_archive_' || substr(part_name, 15);
			EXECUTE format('ALTER TABLE osv.%I RENAME TO %I', part_name, new_name);
			IF EXISTS (SELECT FROM pg_catalog.pg_constraint
					   WHERE conrelid = format('osv.%I', new_name)::regclass AND conname = part_name || '_bounds') THEN
				EXECUTE format('ALTER TABLE osv.%I RENAME CONSTRAINT %I TO %I',
							   new_name, part_name || '_bounds', new_name || '_bounds');
			END IF;
			EXECUTE format('COMMENT ON TABLE osv.%I IS %L', new_name,
						   'archived activity logs of ' || to_char(lowers[i] AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' (UTC)');
		END IF;
		moved := moved + counts[i];
	END LOOP;

	PERFORM set_config('lock_timeout', caller_lock_timeout, true);
	RETURN osv.record_job_run('archive_activity_logs', started, moved, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.archive_activity_logs(interval, integer) IS 'move activity logs of UTC days that ended at least older_than ago to osv.activity_logs_archive (at most max_partitions whole partitions); returns rows moved';

/*
 * CALL osv.archive_activity_logs_stepwise(older_than)
 *
 * The same archive, one whole partition per transaction: it calls
 * osv.archive_activity_logs(older_than, 1) and commits until no partition
 * older than the cutoff is left (or one could not be locked in time).
 * Writers of activity_logs then wait at most for one partition's DETACH and
 * ATTACH at a time, instead of for the whole catch-up, which is what a
 * backlog of many days (after the jobs did not run for a while) needs.
 * CALL it outside a transaction block; it returns the rows moved.  (No SET
 * clause: a procedure with one cannot commit; every name is qualified.)
 */
CREATE PROCEDURE osv.archive_activity_logs_stepwise(older_than interval DEFAULT '90 days',
												   INOUT archived bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
	remaining integer;
	previous integer;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	archived := 0;
	LOOP
		archived := archived OPERATOR(pg_catalog.+) osv.archive_activity_logs(older_than, 1);
		COMMIT;
		remaining := osv.archivable_partitions(older_than);
		EXIT WHEN remaining OPERATOR(pg_catalog.=) 0 OR remaining OPERATOR(pg_catalog.>=) previous;
		previous := remaining;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint) IS 'archive like osv.archive_activity_logs(), committing after each partition so that writers never wait long';

/* ------------------------------------------------------------------------
 * Rooms, recommendations, trash, run records
 * ------------------------------------------------------------------------
 */

/*
 * osv.delete_abandoned_rooms(idle_for)
 *
 * Trashes (soft delete, so the cascade trashes the participations) every
 * live room with no activity since cutoff = now() - idle_for: its
 * last_activity_at is older than the cutoff, and no live participation
 * joined, left or was seen at or after the cutoff.  A room last active at
 * exactly the cutoff stays.  Rooms locked by the application (a join in
 * progress) are skipped and looked at again by the next run; the UPDATE
 * checks the idleness again after taking the row lock.
 */
CREATE FUNCTION osv.delete_abandoned_rooms(idle_for interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	PERFORM osv.check_job_interval('idle_for', idle_for);
	cutoff := now() - idle_for;
	IF NOT osv.try_job_lock('delete_abandoned_rooms') THEN
		RETURN osv.record_job_run('delete_abandoned_rooms', started, 0, 'skipped');
	END IF;
	LOOP
		UPDATE osv.rooms r
		   SET deleted_at = now()
		 WHERE r.id IN (SELECT c.id FROM osv.rooms c
						 WHERE c.deleted_at IS NULL AND c.last_activity_at < cutoff
						   AND NOT EXISTS (SELECT FROM osv.room_participations rp
										   WHERE rp.room_id = c.id AND rp.deleted_at IS NULL
											 AND greatest(rp.joined_at, rp.left_at, rp.last_seen_at) >= cutoff)
						 ORDER BY c.id LIMIT batch
						 FOR UPDATE SKIP LOCKED)
		   AND r.deleted_at IS NULL AND r.last_activity_at < cutoff;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run('delete_abandoned_rooms', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.delete_abandoned_rooms(interval) IS 'trash live rooms with no activity for idle_for; returns rooms trashed';

/*
 * osv.revoke_expired_recommendations()
 *
 * Sets revoked_at = now() on live, unrevoked recommendations whose
 * expires_at is now or earlier (a recommendation is valid until, and not
 * at, expires_at).  Rows are revoked, never deleted.
 */
CREATE FUNCTION osv.revoke_expired_recommendations()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	IF NOT osv.try_job_lock('revoke_expired_recommendations') THEN
		RETURN osv.record_job_run('revoke_expired_recommendations', started, 0, 'skipped');
	END IF;
	LOOP
		UPDATE osv.recommendations r
		   SET revoked_at = now()
		 WHERE r.id IN (SELECT c.id FROM osv.recommendations c
						 WHERE c.revoked_at IS NULL AND c.deleted_at IS NULL AND c.expires_at <= now()
						 ORDER BY c.id LIMIT batch
						 FOR UPDATE SKIP LOCKED)
		   AND r.revoked_at IS NULL AND r.deleted_at IS NULL AND r.expires_at <= now();
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run('revoke_expired_recommendations', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.revoke_expired_recommendations() IS 'set revoked_at on live recommendations whose expires_at has passed; returns rows revoked';

/*
 * osv.purge_trashed(older_than)
 *
 * Hard deletes the rows of every soft-deletable table (osv.soft_delete_tables)
 * trashed before cutoff = now() - older_than; a row trashed at exactly the
 * cutoff stays.  Parents go first and their ON DELETE CASCADE foreign keys
 * take the children, which the soft-delete invariant guarantees are trashed
 * too (a live row never refers to a trashed one); the activity logs, awards
 * and points of a purged user go with it.  Row triggers fire as for any
 * DELETE, so the vector layer hears of purged summaries.  Rows locked by a
 * restore in progress are skipped.  Returns the rows deleted directly (rows
 * removed by a cascade are not counted).
 */
CREATE FUNCTION osv.purge_trashed(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
	t regclass;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	cutoff := now() - older_than;
	IF NOT osv.try_job_lock('purge_trashed') THEN
		RETURN osv.record_job_run('purge_trashed', started, 0, 'skipped');
	END IF;
	FOR t IN SELECT table_name FROM osv.soft_delete_tables ORDER BY position LOOP
		LOOP
			EXECUTE format('DELETE FROM %1$s r WHERE r.id IN ('
						   '  SELECT c.id FROM %1$s c WHERE c.deleted_at < $1 ORDER BY c.id LIMIT $2 FOR UPDATE SKIP LOCKED)'
						   ' AND r.deleted_at < $1', t)
				USING cutoff, batch;
			GET DIAGNOSTICS n = ROW_COUNT;
			total := total + n;
			EXIT WHEN n < batch;
		END LOOP;
	END LOOP;
	RETURN osv.record_job_run('purge_trashed', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.purge_trashed(interval) IS 'hard delete rows trashed longer than older_than ago; returns rows deleted (cascades not counted)';

/*
 * osv.clean_job_runs(older_than): deletes the records of osv.job_runs of
 * runs that started before now() - older_than.
 */
CREATE FUNCTION osv.clean_job_runs(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	cutoff := now() - older_than;
	IF NOT osv.try_job_lock('clean_job_runs') THEN
		RETURN osv.record_job_run('clean_job_runs', started, 0, 'skipped');
	END IF;
	LOOP
		DELETE FROM osv.job_runs r
		 WHERE r.id IN (SELECT c.id FROM osv.job_runs c WHERE c.started_at < cutoff
						 ORDER BY c.id LIMIT batch FOR UPDATE SKIP LOCKED);
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run('clean_job_runs', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.clean_job_runs(interval) IS 'delete records of osv.job_runs older than older_than; returns records deleted';

/* ------------------------------------------------------------------------
 * Running jobs by name
 * ------------------------------------------------------------------------
 */

/* The jobs of osv.run_retention(), in the order it runs them. */
CREATE FUNCTION osv.retention_jobs()
RETURNS SETOF text
LANGUAGE sql IMMUTABLE
BEGIN ATOMIC
	SELECT j FROM unnest(ARRAY['revoke_expired_recommendations', 'delete_abandoned_rooms', 'purge_trashed',
							   'clean_job_runs', 'create_activity_log_partitions', 'archive_activity_logs']::text[])
		WITH ORDINALITY AS u(j, n) ORDER BY n;
END;
COMMENT ON FUNCTION osv.retention_jobs() IS 'names of the retention jobs, in the order osv.run_retention() runs them';

/*
 * osv.run_job(job text) RETURNS bigint
 *
 * Runs one job with its configured setting, in a subtransaction: an error
 * of the job rolls back only the job's changes and is recorded in
 * osv.job_runs as a failed run; the function then returns NULL.
 * create_activity_log_partitions creates the partitions of today and the
 * next 14 days (UTC) so that inserts do not fall into the default
 * partition.
 */
CREATE FUNCTION osv.run_job(job text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	affected bigint;
	message text;
BEGIN
	IF job IS NULL THEN
		RAISE EXCEPTION 'job must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF job NOT IN (SELECT osv.retention_jobs()) THEN
		RAISE EXCEPTION 'unrecognized retention job "%"', job
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The jobs are ' || (SELECT string_agg(j, ', ' ORDER BY j) FROM osv.retention_jobs() j) || '.';
	END IF;
	BEGIN
		CASE job
			WHEN 'archive_activity_logs' THEN
				affected := osv.archive_activity_logs(osv.setting_interval('osv.activity_log_retention'));
			WHEN 'delete_abandoned_rooms' THEN
				affected := osv.delete_abandoned_rooms(osv.setting_interval('osv.room_idle_timeout'));
			WHEN 'revoke_expired_recommendations' THEN
				affected := osv.revoke_expired_recommendations();
			WHEN 'purge_trashed' THEN
				affected := osv.purge_trashed(osv.setting_interval('osv.trash_retention'));
			WHEN 'clean_job_runs' THEN
				affected := osv.clean_job_runs(osv.setting_interval('osv.job_runs_retention'));
			WHEN 'create_activity_log_partitions' THEN
				IF osv.try_job_lock(job) THEN
					affected := osv.record_job_run(job, started, osv.create_activity_log_partitions(14), 'succeeded');
				ELSE
					affected := osv.record_job_run(job, started, 0, 'skipped');
				END IF;
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
		PERFORM osv.record_job_run(job, started, 0, 'failed', message);
		RAISE WARNING 'retention job "%" failed: %', job, message;
		affected := NULL;
	END;
	RETURN affected;
END
$$;
COMMENT ON FUNCTION osv.run_job(text) IS 'run one retention job with its setting; a failure is recorded in osv.job_runs and returns NULL';

/*
 * osv.run_retention() RETURNS TABLE (job text, affected bigint)
 *
 * Runs every job of osv.retention_jobs() with its setting, each in its own
 * subtransaction (osv.run_job), so that one job's error is recorded and
 * does not skip the others.  affected is NULL for a failed job.  This is
 * what the scheduler worker runs every osv.retention_interval, and what a
 * pg_cron job should run: SELECT osv.run_retention().
 */
CREATE FUNCTION osv.run_retention()
RETURNS TABLE (job text, affected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	FOR job IN SELECT osv.retention_jobs() LOOP
		affected := osv.run_job(job);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION osv.run_retention() IS 'run every retention job with its setting, recording each run in osv.job_runs';

REVOKE ALL ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.archivable_partitions(interval), osv.partitions_of(regclass, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.archive_activity_logs(interval, integer), osv.delete_abandoned_rooms(interval),
	osv.revoke_expired_recommendations(), osv.purge_trashed(interval), osv.clean_job_runs(interval),
	osv.run_job(text), osv.run_retention(), osv.record_job_run(text, timestamptz, bigint, text, text),
	osv.move_logs_to_archive(regclass, timestamptz, integer), osv.prepare_archive_days(regclass, timestamptz)
	FROM PUBLIC;
