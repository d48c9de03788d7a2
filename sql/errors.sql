--
-- Bad input gets a clear error naming the rule it breaks, and loses nothing.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges CASCADE;
RESET client_min_messages;
\set VERBOSITY terse
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|eve', 'eve@example.org');

-- users
INSERT INTO osv.users (auth0_id, email) VALUES ('', 'x@example.org');
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|x', 'not an email');
INSERT INTO osv.users (auth0_id, email, role) VALUES ('auth0|x', 'x@example.org', 'wizard');
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|eve', 'eve2@example.org');
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|eve2', 'EVE@example.org');
INSERT INTO osv.users (id, auth0_id, email) SELECT id, 'auth0|x', 'x@example.org' FROM osv.users;  -- an explicit id that is taken

-- documents
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'spreadsheet', 't', 'osv-docs', 'k' FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', '  ', 'osv-docs', 'k' FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', 't', 'Bad_Bucket', 'k' FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key, checksum_sha256)
SELECT id, 'pdf', 't', 'osv-docs', 'k', 'xyz' FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
VALUES (999999, 'pdf', 't', 'osv-docs', 'k');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', 't', 'osv-docs', 'k' FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', 't2', 'osv-docs', 'k' FROM osv.users;

-- summaries: one live summary per document, a document must exist
INSERT INTO osv.summaries (document_id, content) SELECT id, 'first' FROM osv.documents;
INSERT INTO osv.summaries (document_id, content) SELECT id, 'second' FROM osv.documents;
INSERT INTO osv.summaries (document_id, content) VALUES (999999, 'orphan');
INSERT INTO osv.summaries (document_id, content) SELECT id, '' FROM osv.documents;

-- quizzes, answers, rooms, activity, gamification
INSERT INTO osv.quizzes (user_id, title, questions) SELECT id, 'q', '{}' FROM osv.users;
INSERT INTO osv.rooms (user_id, name) SELECT id, '' FROM osv.users;
-- (an old date, so the message names the default partition whatever the day)
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at) SELECT id, 'no spaces allowed', '2001-01-01' FROM osv.users;
INSERT INTO osv.activity_logs (user_id, event_type, properties, occurred_at) SELECT id, 'page.view', '[1]', '2001-01-01' FROM osv.users;
INSERT INTO osv.badges (slug, name) VALUES ('First Quiz', 'First quiz');
INSERT INTO osv.points (user_id, amount, reason) SELECT id, 0, 'nothing' FROM osv.users;

-- nothing of the failed statements was kept
SELECT (SELECT count(*) FROM osv.users) AS users, (SELECT count(*) FROM osv.documents) AS documents,
       (SELECT count(*) FROM osv.summaries) AS summaries, (SELECT count(*) FROM osv.quizzes) AS quizzes;

-- settings refuse bad values
SET osv.trash_retention = 'soon';
SET osv.trash_retention = '-3 days';
SET osv.trash_retention = '0';
SET osv.trash_retention = '2 weeks';
SELECT osv.setting_interval('osv.trash_retention');
RESET osv.trash_retention;
SELECT osv.setting_interval('osv.trash_retention');
SELECT osv.setting_interval('work_mem');
SELECT osv.setting_interval('osv.no_such_setting');
SET osv.no_such_setting = 1;
SET osv.qdrant_url = 'http://127.0.0.1:6333';
ALTER SYSTEM SET osv.qdrant_url = 'ftp://example.org';
ALTER SYSTEM SET osv.qdrant_url = 'http://example .org';
ALTER SYSTEM SET osv.qdrant_collection = 'bad/name';
ALTER SYSTEM SET osv.vector_dimensions = 0;
ALTER SYSTEM SET osv.retention_interval = '0';
-- the vector layer at scale: bounds, and who may turn the search fallback off
ALTER SYSTEM SET osv.qdrant_shard_number = 0;
ALTER SYSTEM SET osv.qdrant_replication_factor = 0;
ALTER SYSTEM SET osv.qdrant_write_consistency_factor = 65537;
ALTER SYSTEM SET osv.reconcile_interval = '-7 days';
ALTER SYSTEM SET osv.reconcile_interval = 'weekly';
SET osv.search_fallback = 'sometimes';
SET osv.qdrant_shard_number = 2;
CREATE ROLE osv_fallback_user;
SET ROLE osv_fallback_user;
SET osv.search_fallback = off;
RESET ROLE;
DROP ROLE osv_fallback_user;
SELECT current_setting('osv.search_fallback') AS search_fallback, current_setting('osv.reconcile_interval') AS reconcile_interval,
       current_setting('osv.qdrant_shard_number') AS shards, current_setting('osv.qdrant_replication_factor') AS replicas,
       current_setting('osv.qdrant_write_consistency_factor') AS write_consistency;

-- partitions: bad arguments
SELECT osv.create_activity_log_partitions(-1);
SELECT osv.create_activity_log_partitions(1000);
