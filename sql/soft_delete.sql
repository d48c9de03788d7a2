--
-- Soft deletes (DESIGN.md section 4): cascade on trash, exact restore,
-- hard deletes, unique rules among live rows.
--
SET client_min_messages = warning;
TRUNCATE osv.users CASCADE;
RESET client_min_messages;

INSERT INTO osv.users (auth0_id, email, name) OVERRIDING SYSTEM VALUE
SELECT * FROM (VALUES ('auth0|ada', 'Ada@Example.org', 'Ada'), ('auth0|bob', 'bob@example.org', 'Bob')) v;
CREATE TEMP TABLE u AS SELECT id, name FROM osv.users;

INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'pdf', u.name || ' doc ' || g, 'osv-docs', u.name || '/' || g
FROM u, generate_series(1, 3) g;

-- summaries take user_id from their document
INSERT INTO osv.summaries (document_id, topic, content)
SELECT d.id, 'topic ' || d.id % 2, 'summary of ' || d.title FROM osv.documents d;
SELECT count(*) AS summaries, bool_and(s.user_id = d.user_id) AS owner_from_document
FROM osv.summaries s JOIN osv.documents d ON d.id = s.document_id;

INSERT INTO osv.quizzes (user_id, document_id, title)
SELECT d.user_id, d.id, 'quiz on ' || d.title FROM osv.documents d WHERE d.title LIKE '% doc 1';
-- Bob answers Ada's quiz and Ada answers Bob's
INSERT INTO osv.answers (quiz_id, user_id, responses)
SELECT q.id, (SELECT id FROM u WHERE id <> q.user_id), '{}' FROM osv.quizzes q;
INSERT INTO osv.rooms (user_id, name) SELECT id, name || '''s room' FROM u;
INSERT INTO osv.room_participations (room_id, user_id) SELECT r.id, u.id FROM osv.rooms r, u;
INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at)
SELECT u.id, s.id, 0.5, now() + interval '1 day' FROM u, osv.summaries s WHERE s.user_id <> u.id;

CREATE TEMP VIEW state AS
SELECT 'documents' AS tbl, u.name AS owner, count(*) FILTER (WHERE t.deleted_at IS NULL) AS live, count(*) FILTER (WHERE t.deleted_at IS NOT NULL) AS trashed FROM osv.documents t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'summaries', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.summaries t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'recommendations', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.recommendations t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'quizzes', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.quizzes t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'answers', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.answers t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'rooms', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.rooms t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'room_participations', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.room_participations t JOIN u ON u.id = t.user_id GROUP BY 1, 2
UNION ALL SELECT 'users', u.name, count(*) FILTER (WHERE t.deleted_at IS NULL), count(*) FILTER (WHERE t.deleted_at IS NOT NULL) FROM osv.users t JOIN u ON u.id = t.id GROUP BY 1, 2
ORDER BY 1, 2;

SELECT * FROM state;

-- 1. trashing a document by UPDATE (as Laravel does) trashes its summary and quiz, nothing else
UPDATE osv.documents SET deleted_at = now() WHERE title = 'Ada doc 1';
SELECT * FROM state WHERE trashed > 0;
-- the rows trashed by that cascade share one batch
SELECT count(DISTINCT trash_batch) AS batches FROM (
	SELECT trash_batch FROM osv.documents WHERE deleted_at IS NOT NULL
	UNION ALL SELECT trash_batch FROM osv.summaries WHERE deleted_at IS NOT NULL
	UNION ALL SELECT trash_batch FROM osv.answers WHERE deleted_at IS NOT NULL) b;

-- 2. trashing Ada trashes all she owns; the document trashed before keeps its own batch
SELECT osv.soft_delete('osv.users', (SELECT id FROM u WHERE name = 'Ada'));
SELECT * FROM state WHERE trashed > 0;
SELECT count(DISTINCT trash_batch) AS batches FROM osv.documents WHERE deleted_at IS NOT NULL;
-- trashing again changes nothing
SELECT osv.soft_delete('osv.users', (SELECT id FROM u WHERE name = 'Ada'));

-- 3. a live row cannot be added under a trashed row, nor point to one
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', 'late', 'osv-docs', 'late' FROM u WHERE name = 'Ada';
UPDATE osv.quizzes SET user_id = (SELECT id FROM u WHERE name = 'Ada') WHERE user_id = (SELECT id FROM u WHERE name = 'Bob');
-- a child cannot be restored on its own while its parent is trashed
UPDATE osv.rooms SET deleted_at = NULL WHERE user_id = (SELECT id FROM u WHERE name = 'Ada');
SELECT osv.restore('osv.summaries', (SELECT min(id) FROM osv.summaries WHERE user_id = (SELECT id FROM u WHERE name = 'Ada')));
SELECT * FROM state WHERE trashed > 0;

-- 4. restoring Ada restores exactly what her soft delete trashed
SELECT osv.restore('osv.users', (SELECT id FROM u WHERE name = 'Ada'));
SELECT * FROM state WHERE trashed > 0;
SELECT osv.restore('osv.users', (SELECT id FROM u WHERE name = 'Ada'));

-- 5. restoring the document brings back its summary, quiz and answers
SELECT osv.restore('osv.documents', (SELECT id FROM osv.documents WHERE title = 'Ada doc 1'));
SELECT * FROM state WHERE trashed > 0;
SELECT count(*) AS rows_with_batch FROM (
	SELECT trash_batch FROM osv.users UNION ALL SELECT trash_batch FROM osv.documents
	UNION ALL SELECT trash_batch FROM osv.summaries UNION ALL SELECT trash_batch FROM osv.answers
	UNION ALL SELECT trash_batch FROM osv.room_participations) b WHERE trash_batch IS NOT NULL;

-- 6. two parents: Ada's answer to Bob's quiz, trashed with Bob, waits for Ada too
UPDATE osv.users SET deleted_at = now() WHERE name = 'Bob';
UPDATE osv.users SET deleted_at = now() WHERE name = 'Ada';
SELECT * FROM state WHERE tbl IN ('answers', 'quizzes') ORDER BY 1, 2;
UPDATE osv.users SET deleted_at = NULL WHERE name = 'Bob';
-- Bob's quiz is back, but Ada's answer to it stays trashed while Ada is
SELECT * FROM state WHERE tbl IN ('answers', 'quizzes') ORDER BY 1, 2;
UPDATE osv.users SET deleted_at = NULL WHERE name = 'Ada';
SELECT * FROM state WHERE trashed > 0;

-- 7. mass UPDATE: trash and restore every user in one statement
UPDATE osv.users SET deleted_at = now();
SELECT tbl, sum(live) AS live, sum(trashed) AS trashed FROM state GROUP BY 1 ORDER BY 1;
UPDATE osv.users SET deleted_at = NULL;
SELECT tbl, sum(live) AS live, sum(trashed) AS trashed FROM state GROUP BY 1 ORDER BY 1;

-- 8. updated_at follows changes unless the statement sets it
UPDATE osv.documents SET updated_at = '2020-01-01' WHERE title = 'Bob doc 2';
SELECT updated_at FROM osv.documents WHERE title = 'Bob doc 2';
UPDATE osv.documents SET title = 'Bob doc two' WHERE title = 'Bob doc 2';
SELECT updated_at > '2020-01-01' AS touched FROM osv.documents WHERE title = 'Bob doc two';

-- 9. unique rules hold among live rows only
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|ada2', 'ADA@example.org');
SELECT osv.soft_delete('osv.users', (SELECT id FROM u WHERE name = 'Ada'));
INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|ada2', 'ADA@example.org', 'Ada again');
SELECT osv.restore('osv.users', (SELECT id FROM u WHERE name = 'Ada'));
DELETE FROM osv.users WHERE name = 'Ada again';
SELECT osv.restore('osv.users', (SELECT id FROM u WHERE name = 'Ada'));

-- 10. DELETE is a hard delete that cascades by foreign key
DELETE FROM osv.users WHERE name = 'Bob';
SELECT * FROM state;

-- 11. bad calls
SELECT osv.soft_delete('pg_class', 1);
SELECT osv.soft_delete('osv.badges', 1);
SELECT osv.soft_delete(NULL, 1);
SELECT osv.soft_delete('osv.users', NULL);
SELECT osv.restore('osv.users', -1);
SELECT osv.soft_delete('osv.documents', 0);
