--
-- Health and progress: the workers' liveness and the mode in the status
-- views, the stale state of a Qdrant that is no longer configured, and
-- osv.progress.  The workers are off in this suite (test/osv.conf);
-- test/t/080_health.pl watches them run, and osv without preloading.
--
CREATE EXTENSION IF NOT EXISTS osv;

-- A row per worker, also when it does not run: here both are disabled.
SELECT worker, pid, database = current_database() AS this_database, state,
	   state_since, started_at, heartbeat_due
  FROM osv.worker_status() ORDER BY worker;

-- The status views end with the mode and the worker's liveness.
SELECT target, mode, inactive_pending = (SELECT count(*) FROM osv.vector_outbox) AS holds_the_outbox,
	   worker_pid, worker_state, last_heartbeat
  FROM osv.vector_sync_status;
SELECT target, mode, worker_pid, worker_state, last_heartbeat
  FROM osv.storage_sync_status ORDER BY target;

-- A Qdrant that fails (a closed port), with changes queued for it.
ALTER SYSTEM SET osv.qdrant_url = 'http://127.0.0.1:9';
ALTER SYSTEM SET osv.qdrant_connect_timeout = '500ms';
SELECT pg_reload_conf();
\c
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|he1', 'he1@example.org');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'pdf', 'doc ' || g, 'he-bucket', 'he/' || g
  FROM generate_series(1, 3) g, osv.users u WHERE u.auth0_id = 'auth0|he1';
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'health', 'health ' || d.title, array_fill(0.5::real, ARRAY[384])
  FROM osv.documents d WHERE d.storage_key LIKE 'he/%';
SELECT osv.vector_sync() IS NOT NULL AS synced;
SELECT mode, pending >= 3 AS pending, failed, oldest_pending_age IS NOT NULL AS waiting,
	   last_error IS NOT NULL AS has_error, retry_at IS NOT NULL AS backing_off,
	   consecutive_failures > 0 AS failing, inactive_pending
  FROM osv.vector_sync_status;

-- The URL emptied: that Qdrant's entries are held, not pending, and its
-- error and back-off are not shown as current.
ALTER SYSTEM RESET osv.qdrant_url;
SELECT pg_reload_conf();
\c
SELECT mode, pending, failed, oldest_pending_age, last_error, last_error_at, retry_at, consecutive_failures,
	   inactive_pending = (SELECT count(*) FROM osv.vector_outbox) AS holds_the_outbox, inactive_pending > 0 AS holds
  FROM osv.vector_sync_status;
-- (the target's row itself is cleared by the worker when it sees the change: 080_health.pl)
SELECT last_error IS NOT NULL AS error_still_recorded FROM osv.vector_sync_targets;
TRUNCATE osv.vector_outbox;
UPDATE osv.vector_sync_targets SET retry_at = NULL, consecutive_failures = 0, last_error = NULL, last_error_at = NULL;
ALTER SYSTEM RESET osv.qdrant_connect_timeout;
SELECT pg_reload_conf();

-- Progress of this session's work.
SELECT osv.progress_begin('purge', 10, true, 'a test');
SELECT osv.progress_advance('purge', 4);
SELECT osv.progress_advance('purge');
SELECT kind, detail, pid = pg_backend_pid() AS mine, started_at <= clock_timestamp() AS started,
	   done, total, total_is_estimate, percent_done, rate_per_second >= 0 AS has_rate,
	   expected_end >= started_at AS has_end, updated_at >= started_at AS updated
  FROM osv.progress WHERE pid IS NOT NULL;
-- Beginning again starts over; an unknown total has no percentage or end.
SELECT osv.progress_begin('purge', NULL);
SELECT kind, detail, done, total, total_is_estimate, percent_done, expected_end
  FROM osv.progress WHERE pid IS NOT NULL;
SELECT osv.progress_end('purge');
SELECT count(*) AS rows_left FROM osv.progress WHERE pid IS NOT NULL;
-- Advancing or ending work that is not in progress does nothing.
SELECT osv.progress_advance('purge', 1), osv.progress_end('reconcile');
SELECT count(*) AS rows_left FROM osv.progress_slots();

-- Errors.
SELECT osv.progress_begin('vacuum', 1);
SELECT osv.progress_begin(NULL, 1);
SELECT osv.progress_begin('purge', -1);
SELECT osv.progress_advance('purge', -1);
SELECT osv.progress_end('');

-- A transaction that aborts frees the slots its session began from SQL.
BEGIN;
SELECT osv.progress_begin('archive', 3);
SELECT count(*) AS in_progress FROM osv.progress_slots();
ROLLBACK;
SELECT count(*) AS after_abort FROM osv.progress_slots();

-- The archive backlog: old partitions wait for the next run.
SELECT osv.create_activity_log_partitions(2, (now() AT TIME ZONE 'UTC')::date - 400) AS partitions;
SELECT kind, detail, pid, done, total = osv.archive_backlog() AS total_is_backlog, total > 0 AS has_backlog
  FROM osv.progress;
-- The batched archive and purge leave no row behind.
CALL osv.run_job_batched('archive_activity_logs');
CALL osv.run_job_batched('purge_trashed');
SELECT count(*) AS rows_left FROM osv.progress;
SELECT job, outcome FROM osv.job_runs WHERE job IN ('archive_activity_logs', 'purge_trashed')
 ORDER BY id DESC LIMIT 2;
SELECT osv.job_backlog('purge_trashed', now()) >= 0 AS counted, osv.job_backlog('create_activity_log_partitions', now());

-- osv_monitor reads the status views (a queued object deletion included)
-- and osv.progress, and cannot report progress.
DELETE FROM osv.users WHERE auth0_id = 'auth0|he1';
SELECT count(*) > 0 AS deletions_queued FROM osv.storage_deletions WHERE storage_bucket = 'he-bucket';
SET ROLE osv_monitor;
SELECT count(*) AS status_rows FROM osv.vector_sync_status;
SELECT target, pending > 0 AS pending, blocked_by FROM osv.storage_sync_status ORDER BY target;
SELECT count(*) AS workers FROM osv.worker_status();
SELECT count(*) AS progress_rows FROM osv.progress;
SELECT osv.progress_begin('purge', 1);
RESET ROLE;

-- Clean up.
TRUNCATE osv.vector_outbox;
DELETE FROM osv.storage_deletions WHERE storage_bucket = 'he-bucket';
