
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
