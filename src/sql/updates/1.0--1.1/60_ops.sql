
/* ------------------------------------------------------------------------
 * Who ran each job, double scheduling, installation checks (src/sql/ops.sql)
 * ------------------------------------------------------------------------
 */

/*
 * Operators schedule the retention jobs either with osv's scheduler worker
 * (osv.scheduler_worker, in osv.database) or with pg_cron, never both: two
 * schedulers run every job twice, and each run succeeds, so nothing would
 * show it.  Here:
 *
 *  - osv.job_runs.run_by says who ran each job: 'worker' (the "osv
 *    scheduler" background worker), 'pg_cron' (a pg_cron job, in its
 *    background worker or over its libpq connection) or 'manual' (any
 *    other session).  NULL for runs recorded before 1.1.
 *  - A run by pg_cron in the database where osv's scheduler worker runs
 *    the jobs is refused: the row of osv.job_runs cannot be written, so the
 *    job fails, cron.job_run_details shows the error and the job's changes
 *    roll back.
 *  - osv.job_runs.reason gives the reason of a skipped run (another run
 *    held the job's lock, or the archive could not lock activity_logs in
 *    time) or of a run that stopped early.
 *  - osv.check_installation() warns, with a hint, when osv is not
 *    preloaded, when its workers run in another database, or when pg_cron
 *    jobs of this database call osv while the scheduler worker runs here
 *    too.  CREATE EXTENSION and ALTER EXTENSION ... UPDATE call it.
 */

/*
 * Who runs the current session's jobs: 'worker', 'pg_cron' or 'manual'.
 * pg_cron runs a job in a background worker (backend_type "pg_cron" or
 * "pg_cron worker") or over a libpq connection whose application_name is
 * "pg_cron".
 */
CREATE FUNCTION osv.job_runner()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT CASE
		WHEN a.backend_type OPERATOR(pg_catalog.=) 'osv scheduler' THEN 'worker'
		WHEN a.backend_type OPERATOR(pg_catalog.~~) 'pg\_cron%'
			 OR a.application_name OPERATOR(pg_catalog.=) 'pg_cron' THEN 'pg_cron'
		ELSE 'manual'
	END
	FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a;
END;
COMMENT ON FUNCTION osv.job_runner() IS 'who runs the jobs of this session: worker (osv scheduler), pg_cron or manual';

ALTER TABLE osv.job_runs ADD COLUMN run_by text;
ALTER TABLE osv.job_runs ALTER COLUMN run_by SET DEFAULT osv.job_runner();
ALTER TABLE osv.job_runs ADD CONSTRAINT job_runs_run_by_check
	CHECK (run_by OPERATOR(pg_catalog.=) ANY (ARRAY['worker', 'pg_cron', 'manual']));
COMMENT ON COLUMN osv.job_runs.run_by IS 'who ran the job: worker (osv scheduler), pg_cron or manual; NULL for runs recorded before osv 1.1';

/*
 * The database in which osv's scheduler worker runs the retention jobs, or
 * NULL when it does not run (osv not preloaded, or osv.scheduler_worker
 * off).  Calls a C function of osv first so that osv.so is loaded: only
 * then are osv.database and osv.scheduler_worker defined when preloaded,
 * and undefined (not placeholders of postgresql.conf) when not.
 */
CREATE FUNCTION osv.scheduler_worker_database()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM osv.setting_interval('osv.trash_retention');
	IF current_setting('osv.scheduler_worker', true) = 'on' THEN
		RETURN current_setting('osv.database', true);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.scheduler_worker_database() IS 'database where osv''s scheduler worker runs the retention jobs; NULL when it does not run';

/*
 * Trigger on osv.job_runs, before each insert but that of a restore:
 * refuses a run by pg_cron where the scheduler worker runs the jobs (the
 * error ends the pg_cron job; osv.run_job cannot record it as failed
 * either, so it reaches pg_cron), and gives a skipped run with no reason
 * the one the jobs' advisory lock implies.
 */
CREATE FUNCTION osv.job_runs_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.run_by = 'pg_cron' AND osv.scheduler_worker_database() = current_database() THEN
		RAISE EXCEPTION 'osv''s scheduler worker already runs the retention jobs in database "%"', current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('pg_cron ran job "%s", which osv.scheduler_worker = on runs here too (osv.database = %L).',
								  NEW.job, current_database()),
				  HINT = 'Schedule the jobs in one place: remove the osv jobs from pg_cron (cron.unschedule), '
						 'or set osv.scheduler_worker = off and restart the server.';
	END IF;
	IF NEW.outcome = 'skipped' AND NEW.reason IS NULL THEN
		NEW.reason := 'another run of the job held its lock';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.job_runs_check() IS 'trigger: refuse a pg_cron run where the scheduler worker runs the jobs; give skipped runs their reason';
REVOKE ALL ON FUNCTION osv.job_runs_check() FROM PUBLIC;

CREATE TRIGGER job_runs_check BEFORE INSERT ON osv.job_runs
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.job_runs_check();

/*
 * osv.check_installation() RETURNS boolean
 *
 * Warns about a server where osv's background work does not happen in
 * this database, or happens twice:
 *  - osv is not in shared_preload_libraries: no worker drains the vector
 *    outbox or runs the retention jobs;
 *  - a worker is on but osv.database names another database;
 *  - the scheduler worker runs here and pg_cron jobs of this database (in
 *    cron.job, where pg_cron keeps its jobs here) call osv too.
 * Each WARNING carries a hint.  Returns true when nothing was found.
 * CREATE EXTENSION osv and ALTER EXTENSION osv UPDATE run it.
 */
CREATE FUNCTION osv.check_installation()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	workers_on boolean;
	cron_jobs text;
	clean boolean := true;
BEGIN
	PERFORM osv.setting_interval('osv.trash_retention');
	IF current_setting('osv.database', true) IS NULL THEN
		RAISE WARNING 'osv is not preloaded: its background workers do not run'
			USING DETAIL = 'Nothing drains the vector outbox to Qdrant or runs the retention jobs by itself.',
				  HINT = format('Add osv to shared_preload_libraries, set osv.database = %L and restart the server; '
								'or schedule osv.run_retention() and osv.vector_sync() with pg_cron.', current_database());
		RETURN false;
	END IF;
	workers_on := current_setting('osv.scheduler_worker') = 'on' OR current_setting('osv.vector_sync_worker') = 'on';
	IF workers_on AND current_setting('osv.database') <> current_database() THEN
		RAISE WARNING 'osv''s background workers run in database "%", not in "%"',
			current_setting('osv.database'), current_database()
			USING DETAIL = 'Nothing drains the vector outbox to Qdrant or runs the retention jobs in this database.',
				  HINT = format('Set osv.database = %L and restart the server, or schedule the jobs of this database '
								'with pg_cron''s cron.schedule_in_database().', current_database());
		clean := false;
	END IF;
	IF osv.scheduler_worker_database() = current_database() AND pg_catalog.to_regclass('cron.job') IS NOT NULL THEN
		EXECUTE $q$SELECT pg_catalog.string_agg(pg_catalog.quote_literal(coalesce(jobname, jobid::text)), ', ' ORDER BY jobid)
				   FROM cron.job WHERE command ~ '\mosv\.' AND database = pg_catalog.current_database()$q$
			INTO cron_jobs;
		IF cron_jobs IS NOT NULL THEN
			RAISE WARNING 'pg_cron jobs call osv in database "%", where osv''s scheduler worker runs the retention jobs',
				current_database()
				USING DETAIL = format('pg_cron jobs: %s.  A retention job that pg_cron runs here is refused.', cron_jobs),
					  HINT = 'Schedule the jobs in one place: remove the osv jobs from pg_cron (cron.unschedule), '
							 'or set osv.scheduler_worker = off and restart the server.';
			clean := false;
		END IF;
	END IF;
	RETURN clean;
END
$$;
COMMENT ON FUNCTION osv.check_installation() IS 'warn when osv is not preloaded, its workers run in another database, or pg_cron schedules its jobs too; true when all is well';

/* An archive that could not lock is recorded as skipped, with the reason (retention.sql). */
CREATE OR REPLACE FUNCTION osv.archive_activity_logs(older_than interval DEFAULT '90 days',
										  max_partitions integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	moved bigint := 0;
	n bigint;
	p record;
	part_name text;
	new_name text;
	caller_lock_timeout text := current_setting('lock_timeout');
	caller_enable_seqscan text := current_setting('enable_seqscan');
	lock_failure text;
	parts regclass[] := '{}';
	lowers timestamptz[] := '{}';
	uppers timestamptz[] := '{}';
	counts bigint[] := '{}';
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	IF max_partitions < 1 THEN
		RAISE EXCEPTION 'max_partitions must be at least 1' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	cutoff := osv.archive_cutoff(older_than);
	IF NOT osv.try_job_lock('archive_activity_logs') THEN
		RETURN osv.record_job_run('archive_activity_logs', started, 0, 'skipped');
	END IF;
	/* Never wait without bound for a lock (restored at the end). */
	IF caller_lock_timeout = '0' THEN
		PERFORM set_config('lock_timeout', '1s', true);
	END IF;

	/* 1. Boundary rows. */
	FOR p IN SELECT * FROM osv.partitions_of('osv.activity_logs', cutoff)
			 WHERE is_default OR ((lower_bound IS NULL OR lower_bound < cutoff)
								  AND (upper_bound IS NULL OR upper_bound > cutoff))
	LOOP
		moved := moved + osv.move_logs_to_archive(p.partition, cutoff, batch);
	END LOOP;

	/*
	 * 2. Whole partitions.  First the rows of each are counted, so that the
	 * counting, the only part that reads rows, happens before the ACCESS
	 * EXCLUSIVE lock on activity_logs that the first DETACH takes.  NB: no
	 * lock on the partition is taken for the count: an INSERT locks
	 * activity_logs before the partition, so a partition lock held while
	 * waiting for the DETACH's lock on activity_logs deadlocks with it.  A
	 * log of an old day inserted between the count and the DETACH moves
	 * with its partition but is not counted in the result.
	 */
	FOR p IN SELECT * FROM osv.partitions_of('osv.activity_logs', cutoff)
			 WHERE NOT is_default AND upper_bound <= cutoff
	LOOP
		EXIT WHEN cardinality(parts) >= max_partitions;
		/*
		 * On a partition that VACUUM marked all-visible (old partitions
		 * are), an index-only scan counts from the index, a fraction of the
		 * heap's size; the planner prefers the heap when it thinks it is
		 * cached, which old logs are not.
		 */
		IF EXISTS (SELECT FROM pg_catalog.pg_class c
				   WHERE c.oid = p.partition AND c.relpages > 0 AND c.relallvisible >= c.relpages) THEN
			PERFORM set_config('enable_seqscan', 'off', true);
		END IF;
		EXECUTE format('SELECT count(*) FROM ONLY %s', p.partition) INTO n;
		PERFORM set_config('enable_seqscan', caller_enable_seqscan, true);
		parts := parts || p.partition;
		lowers := lowers || p.lower_bound;
		uppers := uppers || p.upper_bound;
		counts := counts || n;
	END LOOP;

	FOR i IN 1 .. cardinality(parts) LOOP
		SELECT c.relname INTO part_name FROM pg_catalog.pg_class c WHERE c.oid = parts[i];
		BEGIN
			EXECUTE format('ALTER TABLE osv.activity_logs DETACH PARTITION %s', parts[i]);
		EXCEPTION WHEN lock_not_available THEN
			RAISE LOG 'osv: archive_activity_logs stopped after % rows: could not lock osv.activity_logs', moved;
			lock_failure := 'could not lock osv.activity_logs within lock_timeout';
			EXIT;
		END;
		EXECUTE format('ALTER TABLE %s ADD COLUMN archived_at timestamptz NOT NULL DEFAULT %L',
					   parts[i], now());
		EXECUTE format('ALTER TABLE %s ALTER COLUMN archived_at DROP DEFAULT', parts[i]);
		BEGIN
			EXECUTE format('ALTER TABLE osv.activity_logs_archive ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%L)',
						   parts[i], coalesce(quote_literal(lowers[i]), 'MINVALUE'), uppers[i]);
		EXCEPTION WHEN invalid_object_definition THEN
			/*
			 * An archive partition overlaps (rows of the range were archived
			 * one by one before): move the rows one by one too.
			 */
			moved := moved + osv.move_logs_to_archive(parts[i], 'infinity', batch);
			EXECUTE format('DROP TABLE %s', parts[i]);
			CONTINUE;
		END;
		IF part_name ~ '^activity_logs_p[0-9]{8}(_bc)?$' THEN
			new_name := 'activity_logs_archive_' || substr(part_name, 15);
			EXECUTE format('ALTER TABLE osv.%I RENAME TO %I', part_name, new_name);
			IF EXISTS (SELECT FROM pg_catalog.pg_constraint
					   WHERE conrelid = format('osv.%I', new_name)::regclass AND conname = part_name || '_bounds') THEN
				EXECUTE format('ALTER TABLE osv.%I RENAME CONSTRAINT %I TO %I',
							   new_name, part_name || '_bounds', new_name || '_bounds');
			END IF;
			EXECUTE format('COMMENT ON TABLE osv.%I IS %L', new_name,
						   'archived activity logs of ' || to_char(lowers[i] AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' (UTC)');
		END IF;
		moved := moved + counts[i];
	END LOOP;

	PERFORM set_config('lock_timeout', caller_lock_timeout, true);
	/* Nothing archived for want of a lock: skipped, with the reason. */
	IF lock_failure IS NOT NULL THEN
		RETURN osv.record_job_run('archive_activity_logs', started, moved,
								  CASE WHEN moved = 0 THEN 'skipped' ELSE 'succeeded' END, NULL,
								  CASE WHEN moved = 0 THEN lock_failure
								  ELSE 'stopped early: ' || lock_failure END);
	END IF;
	RETURN osv.record_job_run('archive_activity_logs', started, moved, 'succeeded');
END
$$;

SELECT osv.check_installation();
