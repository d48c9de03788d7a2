
/* ------------------------------------------------------------------------
 * Health and progress, part 1: the workers' liveness and the mode in the
 * status views (src/sql/vector.sql, src/sql/erasure.sql), progress reports
 * of osv.run_job_batched (src/sql/retention.sql).  vector_sync_status (of
 * 1.0) gains columns at its end (CREATE OR REPLACE VIEW keeps its grants
 * and comments; the column comments that changed are set again);
 * storage_sync_status and run_job_batched, new in 1.1, are created here
 * as they are now (40_erasure and 20_retention no longer create them).
 * Part 2, osv.progress and its functions, is 66_progress.sql, a link to
 * src/sql/health.sql.
 * ------------------------------------------------------------------------
 */

/*
 * Liveness of the workers (src/health.c): a row per static worker, also
 * when it does not run (state "not preloaded", "disabled", "not running",
 * "other database": it serves osv.database, not this one).
 */
CREATE FUNCTION osv.worker_status()
RETURNS TABLE (worker text, pid integer, database text, state text, state_since timestamptz,
			   started_at timestamptz, last_heartbeat timestamptz, heartbeat_due timestamptz)
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'osv_worker_status';
COMMENT ON FUNCTION osv.worker_status() IS 'pid, state and heartbeat of each osv background worker, from shared memory';

/*
 * In the embedded mode (osv.qdrant_url empty) nothing is queued and the
 * outbox entries left from the last Qdrant wait for a backfill that
 * supersedes them when a URL is set again: they are not pending but
 * inactive_pending, and the error and back-off of that Qdrant are not
 * shown (the worker clears them when it sees the change).
 */
CREATE OR REPLACE VIEW osv.vector_sync_status AS
SELECT t.target,
	   CASE WHEN m.embedded THEN 0
			ELSE (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') END AS pending,
	   CASE WHEN m.embedded THEN 0
			ELSE (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'failed') END AS failed,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.claim_id IS NOT NULL) AS in_flight,
	   CASE WHEN NOT m.embedded THEN pg_catalog.now() OPERATOR(pg_catalog.-)
		   (SELECT pg_catalog.min(o.enqueued_at) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') END AS oldest_pending_age,
	   CASE WHEN NOT m.embedded THEN
		   COALESCE(t.last_error,
					(SELECT o.last_error FROM osv.vector_outbox o
					  WHERE o.state OPERATOR(pg_catalog.=) 'failed'
					  ORDER BY o.last_attempt_at DESC NULLS LAST LIMIT 1)) END AS last_error,
	   CASE WHEN NOT m.embedded THEN t.last_error_at END AS last_error_at,
	   t.last_success_at,
	   CASE WHEN NOT m.embedded THEN t.retry_at END AS retry_at,
	   CASE WHEN m.embedded THEN 0 ELSE t.consecutive_failures END AS consecutive_failures,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.in_doubt_until IS NOT NULL) AS in_doubt,
	   (SELECT pg_catalog.count(*) FROM osv.vector_erasure_sweeps w) AS erasure_sweeps,
	   CASE WHEN m.embedded THEN 'embedded' ELSE 'qdrant' END AS mode,
	   CASE WHEN m.embedded THEN (SELECT pg_catalog.count(*) FROM osv.vector_outbox o) ELSE 0 END AS inactive_pending,
	   w.pid AS worker_pid,
	   w.state AS worker_state,
	   w.last_heartbeat
  FROM osv.vector_sync_targets t
 CROSS JOIN (SELECT COALESCE(pg_catalog.current_setting('osv.qdrant_url', true), '') OPERATOR(pg_catalog.=) '' AS embedded) m
  LEFT JOIN osv.worker_status() w ON w.worker OPERATOR(pg_catalog.=) 'vector sync';
COMMENT ON VIEW osv.vector_sync_status IS 'state of the vector sync: pending and failed entries, age of the oldest pending change, last error';
COMMENT ON COLUMN osv.vector_sync_status.target IS 'name of the sync target';
COMMENT ON COLUMN osv.vector_sync_status.pending IS 'outbox entries waiting to be sent; 0 in embedded mode (see inactive_pending)';
COMMENT ON COLUMN osv.vector_sync_status.failed IS 'outbox entries parked after too many failed attempts; 0 in embedded mode';
COMMENT ON COLUMN osv.vector_sync_status.in_flight IS 'outbox entries claimed by a batch being sent';
COMMENT ON COLUMN osv.vector_sync_status.oldest_pending_age IS 'age of the oldest pending change; NULL when nothing is pending';
COMMENT ON COLUMN osv.vector_sync_status.last_error IS 'last failure of the target, else the error of the last parked entry; NULL in embedded mode';
COMMENT ON COLUMN osv.vector_sync_status.last_error_at IS 'when the target last failed';
COMMENT ON COLUMN osv.vector_sync_status.last_success_at IS 'when a batch last reached the target';
COMMENT ON COLUMN osv.vector_sync_status.retry_at IS 'no batch is sent before this time (backoff of the target)';
COMMENT ON COLUMN osv.vector_sync_status.consecutive_failures IS 'failures of the target since its last success';
COMMENT ON COLUMN osv.vector_sync_status.in_doubt IS 'outbox entries with a write in doubt (timed out or cut off after it was sent), sent again after osv.vector_sync_in_doubt_fence';
COMMENT ON COLUMN osv.vector_sync_status.erasure_sweeps IS 'erasure sweeps by user filter still to be repeated';
COMMENT ON COLUMN osv.vector_sync_status.mode IS 'qdrant (osv.qdrant_url set) or embedded (no URL: nothing is queued, search scans the database)';
COMMENT ON COLUMN osv.vector_sync_status.inactive_pending IS 'embedded mode: outbox entries left from the last Qdrant, superseded by the backfill when a URL is set again; 0 in qdrant mode';
COMMENT ON COLUMN osv.vector_sync_status.worker_pid IS 'pid of the vector sync worker; NULL when it does not run';
COMMENT ON COLUMN osv.vector_sync_status.worker_state IS 'state of the vector sync worker (osv.worker_status(); README "Health and progress")';
COMMENT ON COLUMN osv.vector_sync_status.last_heartbeat IS 'when the vector sync worker last showed it was alive (every turn of its loop)';

/*
 * The storage queues, with the mode of each target and the worker that
 * drains them all (the vector sync worker, src/health.c) at the end.
 */
CREATE VIEW osv.storage_sync_status AS
SELECT s.target, s.pending, s.failed, s.in_flight, s.oldest_pending_age, s.last_error, s.last_error_at,
	   s.next_attempt_at, s.max_attempts, s.blocked_by,
	   CASE WHEN s.target OPERATOR(pg_catalog.=) 'qdrant_sweeps' THEN
			CASE WHEN COALESCE(pg_catalog.current_setting('osv.qdrant_url', true), '') OPERATOR(pg_catalog.=) '' THEN 'embedded' ELSE 'qdrant' END
			WHEN COALESCE(pg_catalog.current_setting('osv.s3_endpoint', true), '') OPERATOR(pg_catalog.=) '' THEN 'none'
			ELSE 's3' END AS mode,
	   w.pid AS worker_pid,
	   w.state AS worker_state,
	   w.last_heartbeat
  FROM (
	SELECT 'object_storage'::text AS target,
		   pg_catalog.count(*) AS pending,
		   pg_catalog.count(*) FILTER (WHERE d.last_error IS NOT NULL) AS failed,
		   pg_catalog.count(*) FILTER (WHERE d.lease_until OPERATOR(pg_catalog.>) pg_catalog.now()) AS in_flight,
		   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(d.requested_at) AS oldest_pending_age,
		   (SELECT e.last_error FROM osv.storage_deletions e WHERE e.last_error IS NOT NULL
			 ORDER BY e.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error,
		   pg_catalog.max(d.last_attempt_at) FILTER (WHERE d.last_error IS NOT NULL) AS last_error_at,
		   pg_catalog.min(d.next_attempt_at) AS next_attempt_at,
		   pg_catalog.max(d.attempts) AS max_attempts,
		   CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN osv.storage_sync_blocked_by('object_storage') END AS blocked_by
	  FROM osv.storage_deletions d
	UNION ALL
	SELECT 'erasure_ledger',
		   pg_catalog.count(*),
		   pg_catalog.count(*) FILTER (WHERE l.object_last_error IS NOT NULL),
		   pg_catalog.count(*) FILTER (WHERE l.object_lease_until OPERATOR(pg_catalog.>) pg_catalog.now()),
		   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(l.erased_at),
		   (SELECT e.object_last_error FROM osv.erasure_ledger e WHERE e.object_written_at IS NULL AND e.object_last_error IS NOT NULL
			 ORDER BY e.object_last_error_at DESC NULLS LAST LIMIT 1),
		   pg_catalog.max(l.object_last_error_at),
		   pg_catalog.min(l.object_next_attempt_at),
		   pg_catalog.max(l.object_attempts),
		   CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN osv.storage_sync_blocked_by('erasure_ledger') END
	  FROM osv.erasure_ledger l
	 WHERE l.object_written_at IS NULL
	UNION ALL
	SELECT 'qdrant_sweeps',
		   pg_catalog.count(*),
		   pg_catalog.count(*) FILTER (WHERE q.last_error IS NOT NULL),
		   pg_catalog.count(*) FILTER (WHERE q.lease_until OPERATOR(pg_catalog.>) pg_catalog.now()),
		   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.enqueued_at),
		   (SELECT e.last_error FROM osv.vector_erasure_sweeps e WHERE e.last_error IS NOT NULL
			 ORDER BY e.last_error_at DESC NULLS LAST LIMIT 1),
		   pg_catalog.max(q.last_error_at),
		   pg_catalog.min(q.due_at),
		   pg_catalog.max(q.attempts),
		   CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN osv.storage_sync_blocked_by('qdrant_sweeps') END
	  FROM osv.vector_erasure_sweeps q
	   ) s
  LEFT JOIN osv.worker_status() w ON w.worker OPERATOR(pg_catalog.=) 'vector sync';
COMMENT ON VIEW osv.storage_sync_status IS 'state of the external deletions: queued object deletions, ledger copies to write, Qdrant sweeps to confirm (sent by the vector sync)';
COMMENT ON COLUMN osv.storage_sync_status.target IS 'object_storage (deletions), erasure_ledger (copies of receipts), qdrant_sweeps (osv.vector_erasure_sweeps: erasures Qdrant has not confirmed)';
COMMENT ON COLUMN osv.storage_sync_status.pending IS 'entries not done yet (failing ones included: none is ever parked)';
COMMENT ON COLUMN osv.storage_sync_status.failed IS 'pending entries whose last attempt failed (retried with backoff)';
COMMENT ON COLUMN osv.storage_sync_status.in_flight IS 'entries claimed by a sync being sent';
COMMENT ON COLUMN osv.storage_sync_status.oldest_pending_age IS 'age of the oldest pending entry; NULL when nothing is pending';
COMMENT ON COLUMN osv.storage_sync_status.last_error IS 'error of the latest failed attempt';
COMMENT ON COLUMN osv.storage_sync_status.last_error_at IS 'when the latest attempt failed';
COMMENT ON COLUMN osv.storage_sync_status.next_attempt_at IS 'when the next entry is due';
COMMENT ON COLUMN osv.storage_sync_status.max_attempts IS 'most attempts of one pending entry';
COMMENT ON COLUMN osv.storage_sync_status.blocked_by IS 'why nothing is sent at all (a setting that is empty), NULL when the sync can run';
COMMENT ON COLUMN osv.storage_sync_status.mode IS 's3 (osv.s3_endpoint set) or none for object_storage and erasure_ledger; qdrant or embedded for qdrant_sweeps';
COMMENT ON COLUMN osv.storage_sync_status.worker_pid IS 'pid of the worker that drains the storage queues (the vector sync worker); NULL when it does not run';
COMMENT ON COLUMN osv.storage_sync_status.worker_state IS 'state of that worker (osv.worker_status(); README "Health and progress")';
COMMENT ON COLUMN osv.storage_sync_status.last_heartbeat IS 'when that worker last showed it was alive';

/*
 * CALL osv.run_job_batched(job, arg, affected)
 *
 * Runs one job committing as it goes, so that its locks are held for one
 * batch at a time: a row job commits after each batch of
 * osv.retention_batch_size rows (taking its advisory lock again in each
 * batch's transaction), archive_activity_logs after each whole partition
 * (as archive_activity_logs_stepwise), create_activity_log_partitions in
 * one transaction.  arg is the job's interval argument; NULL means its
 * setting.  A bad argument or job name is an error; a run that could not
 * take its lock at the start is recorded as skipped with the reason and
 * sets affected to 0; a run whose lock another run took between two
 * batches stops there and records what it did, with the reason.  An error
 * of a batch rolls back that batch only (the earlier ones are committed),
 * is recorded as a failed run, raised as a WARNING and sets affected to
 * NULL.  CALL it outside a transaction block.  (No SET clause: a procedure
 * with one cannot commit; every name is qualified.)  osv.progress shows
 * the run (kind archive, purge for purge_trashed, retention for the other
 * row jobs) with the backlog counted at its start as total.
 */
CREATE PROCEDURE osv.run_job_batched(job text, arg interval DEFAULT NULL, INOUT affected bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
	started timestamptz := pg_catalog.clock_timestamp();
	cutoff timestamptz;
	batch integer;
	n bigint;
	batches integer := 0;
	remaining integer;
	previous integer;
	message text;
	to_archive integer;
	kind text := CASE job WHEN 'archive_activity_logs' THEN 'archive' WHEN 'purge_trashed' THEN 'purge' ELSE 'retention' END;
BEGIN
	PERFORM osv.job_number(job);
	arg := coalesce(arg, osv.job_setting(job));
	affected := 0;
	IF job OPERATOR(pg_catalog.=) 'create_activity_log_partitions' THEN
		affected := osv.run_job(job);
		RETURN;
	ELSIF job OPERATOR(pg_catalog.=) 'archive_activity_logs' THEN
		PERFORM osv.check_job_interval('older_than', arg);
		to_archive := osv.archivable_partitions(arg);
		PERFORM osv.progress_begin(kind, to_archive, false, job);
	ELSE
		cutoff := osv.job_cutoff(job, arg);
		batch := osv.retention_batch_size();
		PERFORM osv.progress_begin(kind, osv.job_backlog(job, cutoff), true, job);
	END IF;
	LOOP
		BEGIN
			IF job OPERATOR(pg_catalog.=) 'archive_activity_logs' THEN
				/* Records a run of its own per partition. */
				affected := affected OPERATOR(pg_catalog.+) osv.archive_activity_logs(arg, 1);
				remaining := osv.archivable_partitions(arg);
			ELSIF osv.try_job_lock(job) THEN
				n := osv.job_batch(job, cutoff, batch);
			ELSIF batches OPERATOR(pg_catalog.=) 0 THEN
				affected := osv.record_job_run(job, started, 0, 'skipped', NULL,
											   'another run of the job holds its lock');
				PERFORM osv.progress_end(kind);
				RETURN;
			ELSE
				PERFORM osv.record_job_run(job, started, affected, 'succeeded', NULL,
										   pg_catalog.format('stopped after %s batches: another run of the job took its lock',
															 batches));
				PERFORM osv.progress_end(kind);
				RETURN;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
			PERFORM osv.record_job_run(job, started, affected, 'failed', message);
			PERFORM osv.progress_end(kind);
			RAISE WARNING 'retention job "%" failed: %', job, message;
			affected := NULL;
			RETURN;
		END;
		COMMIT;
		IF job OPERATOR(pg_catalog.=) 'archive_activity_logs' THEN
			PERFORM osv.progress_advance(kind, GREATEST(to_archive OPERATOR(pg_catalog.-) remaining, 0));
			to_archive := LEAST(to_archive, remaining);
			EXIT WHEN remaining OPERATOR(pg_catalog.=) 0 OR remaining OPERATOR(pg_catalog.>=) previous;
			previous := remaining;
		ELSE
			affected := affected OPERATOR(pg_catalog.+) n;
			batches := batches OPERATOR(pg_catalog.+) 1;
			PERFORM osv.progress_advance(kind, n);
			EXIT WHEN n OPERATOR(pg_catalog.<) batch;
		END IF;
	END LOOP;
	PERFORM osv.progress_end(kind);
	IF job OPERATOR(pg_catalog.<>) 'archive_activity_logs' THEN
		PERFORM osv.record_job_run(job, started, affected, 'succeeded');
	END IF;
END
$$;
COMMENT ON PROCEDURE osv.run_job_batched(text, interval, bigint) IS 'run one retention job committing after each batch (NULL arg: its setting); a failure is recorded in osv.job_runs and sets affected to NULL';
REVOKE ALL ON PROCEDURE osv.run_job_batched(text, interval, bigint) FROM PUBLIC;
