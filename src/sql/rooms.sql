
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
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users');
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
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('room_id', 'osv.rooms', 'user_id', 'osv.users');
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
