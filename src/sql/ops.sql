
/* src/sql/ops.sql: who runs the jobs, double scheduling, installation checks */

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

SELECT osv.check_installation();
