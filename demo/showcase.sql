-- demo/showcase.sql: sample study data and the showcase queries of osv.
-- Run by demo/run on a throwaway cluster; psql stops at the first error.
\pset footer off
\echo '== installing osv'
CREATE EXTENSION osv;
SELECT extversion FROM pg_extension WHERE extname = 'osv';

\echo '== sample study data'
INSERT INTO osv.users (auth0_id, email, name, role)
SELECT 'auth0|demo' || g, 'student' || g || '@example.org', 'Student ' || g,
       CASE WHEN g = 1 THEN 'teacher' ELSE 'student' END
FROM generate_series(1, 12) g;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key, content_type)
SELECT u.id, (ARRAY['pdf', 'audio', 'video', 'text'])[1 + (u.id + g) % 4],
       'Lecture notes ' || g || ' of ' || u.name, 'osv-documents', 'u' || u.id || '/notes-' || g, 'application/pdf'
FROM osv.users u, generate_series(1, 3) g;
INSERT INTO osv.summaries (document_id, topic, content)
SELECT d.id, (ARRAY['biology', 'history', 'algebra'])[1 + d.id % 3], 'Summary of ' || d.title
FROM osv.documents d;
SELECT (SELECT count(*) FROM osv.users) AS users, (SELECT count(*) FROM osv.documents) AS documents,
       (SELECT count(*) FROM osv.summaries) AS summaries;

\echo '== soft delete: trashing a user trashes what they own, restore brings back exactly that'
UPDATE osv.documents SET deleted_at = now() WHERE storage_key = 'u2/notes-1';
SELECT osv.soft_delete('osv.users', (SELECT id FROM osv.users WHERE auth0_id = 'auth0|demo2')) AS trashed;
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live_documents_of_student_2,
       count(*) FILTER (WHERE deleted_at IS NOT NULL) AS trashed_documents_of_student_2
FROM osv.documents WHERE user_id = (SELECT id FROM osv.users WHERE auth0_id = 'auth0|demo2');
SELECT osv.restore('osv.users', (SELECT id FROM osv.users WHERE auth0_id = 'auth0|demo2')) AS restored;
SELECT title, deleted_at IS NOT NULL AS still_trashed
FROM osv.documents WHERE user_id = (SELECT id FROM osv.users WHERE auth0_id = 'auth0|demo2') ORDER BY title;
