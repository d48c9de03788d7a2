--
-- Rooms: osv.join_room(), osv.leave_room(), osv.room_heartbeat() keep
-- participations and the room's last activity.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse
SELECT osv.upsert_auth0_user('{"sub": "auth0|ada", "email": "ada@example.org", "name": "Ada"}') AS ada \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|bob", "email": "bob@example.org", "name": "Bob"}') AS bob \gset
INSERT INTO osv.rooms (user_id, name, last_activity_at) VALUES (:ada, 'Algebra', now() - interval '10 days') RETURNING id AS room \gset
INSERT INTO osv.rooms (user_id, name, last_activity_at) VALUES (:ada, 'Quiet', now() - interval '10 days') RETURNING id AS quiet \gset

-- (one transaction, so that now() stands still)
BEGIN;
-- joining makes a participation and counts as room activity
SELECT osv.join_room(:room, :bob) AS participation \gset
SELECT last_activity_at = now() AS active_now FROM osv.rooms WHERE id = :room;
-- joining again returns the present participation
SELECT osv.join_room(:room, :bob) = :participation AS same_participation;
SELECT osv.join_room(:room, :ada) <> :participation AS other_participation;
SELECT u.name, p.left_at IS NULL AS present FROM osv.room_participations p JOIN osv.users u ON u.id = p.user_id
WHERE p.room_id = :room ORDER BY p.id;

-- heartbeats: true while present; the room is touched at most once a minute
UPDATE osv.room_participations SET last_seen_at = now() - interval '5 minutes' WHERE room_id = :room;
UPDATE osv.rooms SET last_activity_at = now() - interval '30 seconds' WHERE id = :room;
SELECT osv.room_heartbeat(:room, :bob) AS bob_present;
SELECT last_activity_at = now() - interval '30 seconds' AS room_untouched FROM osv.rooms WHERE id = :room;
UPDATE osv.rooms SET last_activity_at = now() - interval '2 minutes' WHERE id = :room;
SELECT osv.room_heartbeat(:room, :bob) AS bob_present;
SELECT last_activity_at = now() AS room_touched FROM osv.rooms WHERE id = :room;
SELECT u.name, p.last_seen_at = now() AS seen_now FROM osv.room_participations p JOIN osv.users u ON u.id = p.user_id
WHERE p.room_id = :room ORDER BY p.id;
-- a heartbeat of someone not present is false (they should join again)
SELECT osv.room_heartbeat(:quiet, :bob) AS bob_present_in_quiet;

-- leaving ends the participation; leaving again is false; joining again starts a new one
UPDATE osv.rooms SET last_activity_at = now() - interval '1 day' WHERE id = :room;
SELECT osv.leave_room(:room, :bob) AS left;
SELECT last_activity_at = now() AS active_now FROM osv.rooms WHERE id = :room;
SELECT osv.leave_room(:room, :bob) AS left_again;
SELECT osv.room_heartbeat(:room, :bob) AS bob_present;
SELECT osv.join_room(:room, :bob) <> :participation AS new_participation;
SELECT u.name, p.left_at IS NULL AS present, p.left_at >= p.joined_at AS left_after_joining
FROM osv.room_participations p JOIN osv.users u ON u.id = p.user_id WHERE p.room_id = :room ORDER BY p.id;
COMMIT;
-- joins and leaves are logged
SELECT u.name, l.event_type FROM osv.activity_logs l JOIN osv.users u ON u.id = l.user_id ORDER BY l.id;

-- the retention job reads last_activity_at: the quiet room is abandoned, the active one is not
SELECT name, last_activity_at > now() - interval '1 hour' AS recently_active FROM osv.rooms ORDER BY name;
SELECT name FROM osv.rooms WHERE deleted_at IS NULL AND last_activity_at < now() - interval '7 days' ORDER BY name;

-- one present participation per user and room, also for plain DML
INSERT INTO osv.room_participations (room_id, user_id) VALUES (:room, :bob);

-- errors: missing or trashed room or user, null arguments
SELECT osv.join_room(NULL, :bob);
SELECT osv.join_room(999999, :bob);
SELECT osv.join_room(:room, 999999);
SELECT osv.leave_room(999999, :bob);
SELECT osv.room_heartbeat(999999, :bob);
SELECT osv.room_heartbeat(:room, NULL);
SELECT osv.soft_delete('osv.rooms', :quiet);
SELECT osv.join_room(:quiet, :bob);
SELECT osv.leave_room(:quiet, :bob);
SELECT osv.room_heartbeat(:quiet, :bob);
SELECT osv.soft_delete('osv.users', :bob);
SELECT osv.join_room(:room, :bob);
-- trashing the room's owner trashed the room and its participations
SELECT osv.soft_delete('osv.users', :ada);
SELECT osv.join_room(:room, :ada);
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) AS participations FROM osv.room_participations;

-- osv.create_room()
SELECT osv.restore('osv.users', :ada);
SELECT osv.create_room(:ada, ' Geometry ') AS geometry \gset
SELECT name, user_id = :ada AS owned, last_activity_at > now() - interval '1 hour' AS active FROM osv.rooms WHERE id = :geometry;
SELECT osv.create_room(:ada, ' ');
SELECT osv.create_room(:ada, NULL);
SELECT osv.create_room(999999, 'x');
SELECT osv.create_room(:bob, 'x');
SELECT count(*) AS rooms FROM osv.rooms;
