
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
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard();
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.users
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete(
		'documents', 'user_id', 'summaries', 'user_id', 'recommendations', 'user_id',
		'quizzes', 'user_id', 'answers', 'user_id', 'rooms', 'user_id',
		'room_participations', 'user_id');
CREATE TRIGGER lock_user_trash BEFORE UPDATE OF deleted_at ON osv.users
	FOR EACH STATEMENT EXECUTE FUNCTION osv.lock_user_trash();
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
