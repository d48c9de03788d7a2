--
-- Storage sync: the deletion queue of object storage, its status view and
-- argument errors (no S3 endpoint here; test/t/055_storage_erasure.pl runs
-- against the S3 test gate).
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges CASCADE;
TRUNCATE osv.storage_deletions, osv.erasure_ledger, osv.vector_erasure_sweeps CASCADE;
RESET client_min_messages;

INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|s1', 's1@example.org', 'Sam'), ('auth0|s2', 's2@example.org', 'Sue');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'pdf', 'doc ' || n, 'osv-documents', 'users/' || u.auth0_id || '/my notes ' || n || '.pdf'
FROM osv.users u, generate_series(1, 3) n;

-- every kind of hard deletion queues the object, in the deleting transaction
BEGIN;
DELETE FROM osv.documents WHERE storage_key = 'users/auth0|s1/my notes 1.pdf';
SELECT storage_key, user_id = (SELECT id FROM osv.users WHERE auth0_id = 'auth0|s1') AS owner_kept FROM osv.storage_deletions;
ROLLBACK;
SELECT count(*) AS queued_after_rollback FROM osv.storage_deletions;
DELETE FROM osv.documents WHERE storage_key = 'users/auth0|s1/my notes 1.pdf';
UPDATE osv.documents SET deleted_at = now() - interval '40 days' WHERE storage_key = 'users/auth0|s1/my notes 2.pdf';
SELECT osv.purge_trashed('30 days') > 0 AS purged;
DELETE FROM osv.users WHERE auth0_id = 'auth0|s2';   -- cascade
SELECT storage_key, attempts, last_error FROM osv.storage_deletions ORDER BY storage_key;

-- nothing configured: nothing is sent, and the status says why
SELECT osv.storage_sync() AS completed;
SELECT target, pending, failed, in_flight, oldest_pending_age IS NOT NULL AS has_age, last_error, blocked_by
FROM osv.storage_sync_status ORDER BY target;

-- an endpoint that does not answer: retried with backoff, never dropped, shown
DO $$ BEGIN
	EXECUTE format('COPY (SELECT %L) TO PROGRAM %L', 'not-the-secret',
				   'umask 077 && cat > ' || current_setting('data_directory') || '/s3_secret');
END $$;
SELECT current_setting('data_directory') || '/s3_secret' AS secret_file \gset
ALTER SYSTEM SET osv.s3_endpoint = 'http://127.0.0.1:9';
ALTER SYSTEM SET osv.s3_access_key_id = 'osvtestkey';
ALTER SYSTEM SET osv.s3_connect_timeout = '200ms';
ALTER SYSTEM SET osv.s3_secret_access_key_file = :'secret_file';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
-- a live document naming the same object keeps it: that entry is done without a request
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', 'again', 'osv-documents', 'users/auth0|s1/my notes 1.pdf' FROM osv.users WHERE auth0_id = 'auth0|s1';
\set VERBOSITY terse
SELECT osv.storage_sync() AS completed;
\set VERBOSITY default
SELECT storage_key, attempts, next_attempt_at > now() AS backing_off, last_status,
       last_error LIKE 'could not reach "http://127.0.0.1:9":%' AS says_why
FROM osv.storage_deletions ORDER BY storage_key;
SELECT target, pending, failed, last_error LIKE 'could not reach%' AS says_why, blocked_by
FROM osv.storage_sync_status WHERE target = 'object_storage';
-- a failed entry is not tried again before its backoff ends
SELECT osv.storage_sync() AS completed;
SELECT max(attempts) AS attempts FROM osv.storage_deletions;

-- a missing key file is an error of the entries, naming the file, never a key
ALTER SYSTEM SET osv.s3_secret_access_key_file = '/nonexistent/osv-key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
UPDATE osv.storage_deletions SET next_attempt_at = now() - interval '1 second';
\set VERBOSITY terse
SELECT osv.storage_sync(1) AS completed;
\set VERBOSITY default
SELECT last_error FROM osv.storage_sync_status WHERE target = 'object_storage';
ALTER SYSTEM RESET osv.s3_endpoint;
ALTER SYSTEM RESET osv.s3_access_key_id;
ALTER SYSTEM RESET osv.s3_connect_timeout;
ALTER SYSTEM RESET osv.s3_secret_access_key_file;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);

-- the keyed hash is HMAC-SHA256 (RFC 4231, test case 2)
SELECT osv.hmac_sha256('Jefe', 'what do ya want for nothing?');

-- bad calls and settings
\set VERBOSITY terse
SELECT osv.storage_sync(0);
SELECT osv.storage_sync(-5);
SELECT osv.storage_sync_blocked_by('elsewhere');
SELECT * FROM osv.erasure_ledger_objects();
SET osv.s3_endpoint = 'ftp://example.org';
ALTER SYSTEM SET osv.s3_endpoint = 'ftp://example.org';
ALTER SYSTEM SET osv.s3_endpoint = 'http://example.org/?x';
ALTER SYSTEM SET osv.erasure_ledger_bucket = 'Bad_Bucket';
ALTER SYSTEM SET osv.s3_max_connections = 0;
\set VERBOSITY default

-- privileges: nothing of this is PUBLIC's
SELECT has_function_privilege('public', 'osv.storage_sync(integer)', 'EXECUTE') AS public_syncs,
       has_function_privilege('public', 'osv.reapply_erasures()', 'EXECUTE') AS public_reapplies,
       has_function_privilege('public', 'osv.erasure_subject_hash(text, text)', 'EXECUTE') AS public_hashes,
       has_table_privilege('public', 'osv.erasure_ledger', 'SELECT') AS public_reads_ledger;

SET client_min_messages = warning;
TRUNCATE osv.users CASCADE;
TRUNCATE osv.storage_deletions;
RESET client_min_messages;
