--
-- Gamification: the append-only points ledger, per-user totals, badges with
-- declarative criteria, osv.award_points() and osv.leaderboard().
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse
SELECT osv.upsert_auth0_user('{"sub": "auth0|ada", "email": "ada@example.org", "name": "Ada"}') AS ada \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|bob", "email": "bob@example.org", "name": "Bob"}') AS bob \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org", "name": "Cy"}') AS cy \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|dee", "email": "dee@example.org", "name": "Dee"}') AS dee \gset

-- badges: criteria are validated on write
INSERT INTO osv.badges (slug, name, criteria) VALUES
	('welcome', 'Welcome', '{}'),
	('ten-points', 'Ten points', '{"points_at_least": 10}'),
	('first-upload', 'First upload', '{"documents_at_least": 1}'),
	('quiz-whiz', 'Quiz whiz', '{"quizzes_passed_at_least": 2, "points_at_least": 5}'),
	('explorer', 'Explorer', '{"rooms_joined_at_least": 2}'),
	('all-rounder', 'All-rounder', '{"points_at_least": 1, "documents_at_least": 1, "rooms_joined_at_least": 1, "quizzes_passed_at_least": 1}');
INSERT INTO osv.badges (slug, name, criteria) VALUES ('bad', 'Bad', '{"logins_at_least": 3}');
INSERT INTO osv.badges (slug, name, criteria) VALUES ('bad', 'Bad', '{"points_at_least": -1}');
INSERT INTO osv.badges (slug, name, criteria) VALUES ('bad', 'Bad', '{"points_at_least": 2.5}');
INSERT INTO osv.badges (slug, name, criteria) VALUES ('bad', 'Bad', '{"points_at_least": "10"}');
INSERT INTO osv.badges (slug, name, criteria) VALUES ('bad', 'Bad', '[]');
UPDATE osv.badges SET criteria = '{"documents_at_least": 1, "uploads": 1}' WHERE slug = 'first-upload';
SELECT slug, criteria FROM osv.badges ORDER BY id;

CREATE TEMP VIEW badges_of AS
SELECT u.name, string_agg(b.slug, ', ' ORDER BY b.id) AS badges
FROM osv.users u LEFT JOIN osv.awards a ON a.user_id = u.id LEFT JOIN osv.badges b ON b.id = a.badge_id
GROUP BY u.id, u.name ORDER BY u.id;

-- award_points returns the ledger id, updates the total at once, and awards badges
SELECT osv.award_points(:ada, 4, 'welcome bonus') > 0 AS ledger_id;
SELECT * FROM badges_of;
SELECT osv.award_points(:ada, 6, 'streak') > 0 AS ledger_id;
SELECT u.name, t.points FROM osv.point_totals t JOIN osv.users u ON u.id = t.user_id ORDER BY u.id;
SELECT * FROM badges_of;
-- negative amounts correct a total; badges stay
SELECT osv.award_points(:ada, -3, 'correction') > 0 AS ledger_id;
SELECT u.name, t.points, (SELECT sum(amount) FROM osv.points p WHERE p.user_id = t.user_id) AS ledger_sum
FROM osv.point_totals t JOIN osv.users u ON u.id = t.user_id ORDER BY u.id;
SELECT * FROM badges_of;
-- awarded once: reaching the threshold again awards nothing new
SELECT osv.award_points(:ada, 10, 'again') > 0 AS ledger_id;
SELECT count(*) AS ada_awards FROM osv.awards WHERE user_id = :ada;

-- other facts: a document registered, rooms joined, quizzes passed
SELECT osv.register_upload(:bob, 'osv-docs', 'bob/a.pdf', 'application/pdf', 1, repeat('a', 64)) IS NOT NULL AS registered;
SELECT * FROM badges_of;
INSERT INTO osv.rooms (user_id, name) VALUES (:ada, 'Room 1'), (:ada, 'Room 2');
SELECT osv.join_room(r.id, :bob) IS NOT NULL AS joined FROM osv.rooms r WHERE r.name = 'Room 1';
SELECT osv.leave_room(r.id, :bob) AS left FROM osv.rooms r WHERE r.name = 'Room 1';
SELECT osv.join_room(r.id, :bob) IS NOT NULL AS joined FROM osv.rooms r WHERE r.name = 'Room 1';
SELECT * FROM badges_of WHERE name = 'Bob';
SELECT osv.join_room(r.id, :bob) IS NOT NULL AS joined FROM osv.rooms r WHERE r.name = 'Room 2';
SELECT * FROM badges_of WHERE name = 'Bob';
INSERT INTO osv.quizzes (user_id, title, questions)
SELECT :ada, 'Quiz ' || g, '[{"id": "q", "prompt": "Yes?", "type": "single",
	"choices": [{"id": "y", "text": "Yes"}, {"id": "n", "text": "No"}], "correct": ["y"], "points": 3}]'
FROM generate_series(1, 2) g;
SELECT a.passed FROM osv.quizzes q, osv.submit_answer(q.id, :bob, '{"q": "y"}') a WHERE q.title = 'Quiz 1';
SELECT * FROM badges_of WHERE name = 'Bob';
-- passing the same quiz again is not a second quiz passed
SELECT a.passed FROM osv.quizzes q, osv.submit_answer(q.id, :bob, '{"q": "y"}') a WHERE q.title = 'Quiz 1';
SELECT * FROM badges_of WHERE name = 'Bob';
SELECT a.passed FROM osv.quizzes q, osv.submit_answer(q.id, :bob, '{"q": "y"}') a WHERE q.title = 'Quiz 2';
SELECT * FROM badges_of WHERE name = 'Bob';
-- a new badge is evaluated when the facts next change
INSERT INTO osv.badges (slug, name, criteria) VALUES ('big-spender', 'Big', '{"points_at_least": 15}');
SELECT * FROM badges_of WHERE name = 'Ada';
SELECT osv.award_points(:ada, 1, 'nudge') > 0 AS ledger_id;
SELECT * FROM badges_of WHERE name = 'Ada';
-- trashed facts do not count: a trashed document is not an upload
INSERT INTO osv.badges (slug, name, criteria) VALUES ('two-uploads', 'Two uploads', '{"documents_at_least": 2}');
SELECT osv.register_upload(:cy, 'osv-docs', 'cy/a.pdf', 'application/pdf', 1, repeat('a', 64)) AS cy_doc \gset
SELECT osv.soft_delete('osv.documents', :cy_doc);
SELECT osv.register_upload(:cy, 'osv-docs', 'cy/b.pdf', 'application/pdf', 1, repeat('b', 64)) IS NOT NULL AS registered;
SELECT * FROM badges_of WHERE name = 'Cy';
SELECT osv.register_upload(:cy, 'osv-docs', 'cy/c.pdf', 'application/pdf', 1, repeat('c', 64)) IS NOT NULL AS registered;
SELECT * FROM badges_of WHERE name = 'Cy';

-- the ledger is append-only: no updates, no deletes, except by deleting the user
UPDATE osv.points SET amount = 100 WHERE user_id = :ada;
DELETE FROM osv.points WHERE user_id = :ada;
SELECT count(*) AS ada_entries FROM osv.points WHERE user_id = :ada;
SELECT osv.award_points(:dee, 2, 'to be erased') > 0 AS ledger_id;
DELETE FROM osv.users WHERE id = :dee;
SELECT count(*) AS dee_entries, (SELECT count(*) FROM osv.point_totals WHERE user_id = :dee) AS dee_totals
FROM osv.points WHERE user_id = :dee;

-- leaderboard: live users by total, ties share a rank; trashed users are left out
SELECT osv.award_points(:cy, 18, 'catch up') > 0 AS ledger_id;
SELECT * FROM osv.leaderboard();
SELECT * FROM osv.leaderboard(2);
SELECT osv.soft_delete('osv.users', :ada);
SELECT * FROM osv.leaderboard(2);
SELECT osv.restore('osv.users', :ada);

-- errors
SELECT osv.award_points(:ada, 0, 'nothing');
SELECT osv.award_points(:ada, 5, '  ');
SELECT osv.award_points(:ada, NULL, 'x');
SELECT osv.award_points(999999, 5, 'x');
SELECT osv.soft_delete('osv.users', :cy);
SELECT osv.award_points(:cy, 5, 'x');
SELECT * FROM osv.leaderboard(0);
SELECT * FROM osv.leaderboard(NULL);
SELECT * FROM osv.leaderboard(1001);
SELECT osv.evaluate_badges(:ada) AS newly_awarded;
SELECT u.name, t.points FROM osv.point_totals t JOIN osv.users u ON u.id = t.user_id ORDER BY u.id;

-- the badge triggers refuse to be fired the wrong way
CREATE TABLE badge_trigger_misuse (user_id bigint, deleted_at timestamptz);
CREATE TRIGGER wrong_kind BEFORE INSERT ON badge_trigger_misuse
	FOR EACH ROW EXECUTE FUNCTION osv.badges_changed();
INSERT INTO badge_trigger_misuse VALUES (1, NULL);
DROP TRIGGER wrong_kind ON badge_trigger_misuse;
CREATE TRIGGER wrong_kind AFTER INSERT ON badge_trigger_misuse
	FOR EACH ROW EXECUTE FUNCTION osv.evaluate_badges_after_insert('documents_at_least');
INSERT INTO badge_trigger_misuse VALUES (1, NULL);
DROP TRIGGER wrong_kind ON badge_trigger_misuse;
CREATE TRIGGER wrong_kind AFTER INSERT ON badge_trigger_misuse
	FOR EACH STATEMENT EXECUTE FUNCTION osv.evaluate_badges_after_insert('documents_at_least');
INSERT INTO badge_trigger_misuse VALUES (1, NULL);
DROP TABLE badge_trigger_misuse;
