
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
