
/* src/sql/health.sql: progress of long work (src/progress.c; README "Health and progress") */

/*
 * Long work reports its progress in shared memory slots (osv is preloaded),
 * one per process and kind of work: the vector sync worker's backfill and
 * reconcile of a new target (C), and CALL osv.run_job_batched() (the
 * archive, the purge and the other row jobs, also when the scheduler runs
 * them) through the functions below.  A slot is freed when its work ends,
 * when its process exits, and, for a slot begun from SQL, when a
 * transaction of its session aborts.  Kinds: backfill, reconcile,
 * archive, purge, retention (the other row jobs), storage.
 */
CREATE FUNCTION osv.progress_begin(kind text, total bigint, estimated boolean DEFAULT true, detail text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_progress_begin_sql';
COMMENT ON FUNCTION osv.progress_begin(text, bigint, boolean, text) IS 'begin (again) the work of a kind in this session, with its total (NULL: unknown), for osv.progress';

CREATE FUNCTION osv.progress_advance(kind text, n bigint DEFAULT 1)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_progress_advance_sql';
COMMENT ON FUNCTION osv.progress_advance(text, bigint) IS 'n more units of the work of a kind of this session done';

CREATE FUNCTION osv.progress_end(kind text)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_progress_end_sql';
COMMENT ON FUNCTION osv.progress_end(text) IS 'end the work of a kind of this session: its row leaves osv.progress';

CREATE FUNCTION osv.progress_slots()
RETURNS TABLE (kind text, detail text, pid integer, started_at timestamptz, updated_at timestamptz,
			   done bigint, total bigint, total_is_estimate boolean)
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'osv_progress_slots';
COMMENT ON FUNCTION osv.progress_slots() IS 'the progress slots in use, from shared memory (osv.progress computes rates)';

/*
 * The rows a row job would change now with this cutoff (its total for
 * osv.progress): an upper bound, since rows locked by the application are
 * skipped, the idleness of a room is checked only on the rooms, and
 * purge_trashed counts trashed children that the purge of their parents
 * removes by cascade without counting them.  NULL for other jobs.
 */
CREATE FUNCTION osv.job_backlog(job text, cutoff timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	total bigint := 0;
	n bigint;
	t regclass;
BEGIN
	CASE job
		WHEN 'delete_abandoned_rooms' THEN
			SELECT count(*) INTO total FROM osv.rooms c WHERE c.deleted_at IS NULL AND c.last_activity_at < cutoff;
		WHEN 'revoke_expired_recommendations' THEN
			SELECT count(*) INTO total FROM osv.recommendations c
			 WHERE c.revoked_at IS NULL AND c.deleted_at IS NULL AND c.expires_at <= cutoff;
		WHEN 'purge_trashed' THEN
			FOR t IN SELECT table_name FROM osv.soft_delete_tables ORDER BY position LOOP
				EXECUTE format('SELECT count(*) FROM %s c WHERE c.deleted_at < $1', t) INTO n USING cutoff;
				total := total + n;
			END LOOP;
		WHEN 'clean_job_runs' THEN
			SELECT count(*) INTO total FROM osv.job_runs c WHERE c.started_at < cutoff;
		ELSE
			RETURN NULL;
	END CASE;
	RETURN total;
END
$$;
COMMENT ON FUNCTION osv.job_backlog(text, timestamptz) IS 'upper bound of the rows a row retention job would change now with this cutoff';

/*
 * Whole activity-log partitions older than the archive cutoff of
 * osv.activity_log_retention: what the next archive run has to do.
 * SECURITY DEFINER so that osv_monitor can read it through osv.progress
 * without the right to call the retention functions.
 */
CREATE FUNCTION osv.archive_backlog()
RETURNS integer
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT osv.archivable_partitions(osv.job_setting('archive_activity_logs'));
END;
COMMENT ON FUNCTION osv.archive_backlog() IS 'activity-log partitions older than the archive cutoff of osv.activity_log_retention, still to archive';

/*
 * One row per piece of long work in progress, plus the archive backlog
 * while no archive runs (pid NULL: waiting for the next run).  rate and
 * expected_end come from the average since started_at.
 */
CREATE VIEW osv.progress AS
SELECT p.kind, p.detail, p.pid, p.started_at, p.done, p.total, p.total_is_estimate,
	   CASE WHEN p.total OPERATOR(pg_catalog.>) 0
			THEN pg_catalog.round(LEAST(100.0, 100.0 OPERATOR(pg_catalog.*) p.done OPERATOR(pg_catalog./) p.total), 1) END AS percent_done,
	   CASE WHEN e.secs OPERATOR(pg_catalog.>) 0
			THEN pg_catalog.round((p.done OPERATOR(pg_catalog./) e.secs)::numeric, 1) END AS rate_per_second,
	   CASE WHEN p.total IS NOT NULL AND p.done OPERATOR(pg_catalog.>) 0 AND p.done OPERATOR(pg_catalog.<) p.total
			THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)
				 pg_catalog.make_interval(secs => (p.total OPERATOR(pg_catalog.-) p.done) OPERATOR(pg_catalog.*) e.secs OPERATOR(pg_catalog./) p.done) END AS expected_end,
	   p.updated_at
  FROM osv.progress_slots() p
 CROSS JOIN LATERAL (SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) p.started_at) AS secs) e
UNION ALL
SELECT 'archive', 'backlog for the next run', NULL, NULL, 0, b.n, false, 0, NULL, NULL, NULL
  FROM (SELECT osv.archive_backlog() AS n) b
 WHERE b.n OPERATOR(pg_catalog.>) 0
   AND NOT EXISTS (SELECT FROM osv.progress_slots() s WHERE s.kind OPERATOR(pg_catalog.=) 'archive');
COMMENT ON VIEW osv.progress IS 'long work in progress (backfill, reconcile, archive, purge, retention, storage) and the archive backlog';
COMMENT ON COLUMN osv.progress.kind IS 'backfill (outbox drained after a new target), reconcile (Qdrant pages scanned), archive (partitions), purge (trashed rows), retention (rows of the other row jobs), storage';
COMMENT ON COLUMN osv.progress.detail IS 'what the work is on: the Qdrant URL, the retention job, or "backlog for the next run"';
COMMENT ON COLUMN osv.progress.pid IS 'process doing the work; NULL for a backlog waiting for its run';
COMMENT ON COLUMN osv.progress.started_at IS 'when the work began';
COMMENT ON COLUMN osv.progress.done IS 'units done so far (entries, points, partitions, rows)';
COMMENT ON COLUMN osv.progress.total IS 'units to do, counted when the work began; NULL when unknown';
COMMENT ON COLUMN osv.progress.total_is_estimate IS 'whether total is an estimate (rows skipped, changed meanwhile, or removed by cascade make done differ)';
COMMENT ON COLUMN osv.progress.percent_done IS 'done / total in percent, at most 100';
COMMENT ON COLUMN osv.progress.rate_per_second IS 'units per second, averaged since started_at';
COMMENT ON COLUMN osv.progress.expected_end IS 'when the work ends at the average rate so far; NULL when total is unknown or reached';
COMMENT ON COLUMN osv.progress.updated_at IS 'when the work last advanced';
