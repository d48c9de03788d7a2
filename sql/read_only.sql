--
-- osv in read-only transactions, as on a hot standby (test/t/030_replica.pl
-- runs the same against a real standby): reads work, osv.data_export()
-- included, and writes fail with PostgreSQL's read-only error (25006), the
-- functions that talk to Qdrant before they send anything.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS osv;
TRUNCATE osv.users, osv.badges CASCADE;
RESET client_min_messages;
SELECT osv.upsert_auth0_user('{"user_id": "auth0|ro", "email": "ro@example.org", "name": "Rolf"}') AS ro \gset
SELECT osv.register_upload(:ro, 'ro-bucket', 'ro/1', 'application/pdf', 10, repeat('a', 64), 'Read-only notes') AS doc \gset
INSERT INTO osv.summaries (document_id, content, embedding) VALUES (:doc, 'read-only summary', osv.embed_text('read only'));
SELECT osv.award_points(:ro, 3, 'read-only test') > 0 AS awarded;

\set VERBOSITY sqlstate
BEGIN TRANSACTION READ ONLY;
SELECT jsonb_array_length(osv.data_export(:ro) -> 'documents') AS exported_documents;
SELECT count(*) AS hits FROM osv.search_summaries(osv.embed_text('read only'), 5);
SELECT name, points FROM osv.leaderboard(5);
SELECT target FROM osv.vector_sync_status;
COMMIT;

BEGIN TRANSACTION READ ONLY;
SELECT osv.log_activity(:ro, 'page.view');
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT osv.data_delete(:ro);
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT osv.qdrant_delete_user_points(:ro);
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT osv.vector_sync();
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT osv.vector_resync();
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT osv.vector_reconcile();
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT * FROM osv.vector_sync_claim(1);
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT osv.vector_sync_complete(1, '{}');
ROLLBACK;
\set VERBOSITY default
BEGIN TRANSACTION READ ONLY;
SELECT osv.qdrant_delete_user_points(:ro);
ROLLBACK;
