
/* ------------------------------------------------------------------------
 * Retention jobs commit per batch; one skeleton for the row jobs; an
 * unknown job name is an error; a skipped run says why; the archive takes
 * its locks in the writers' order and makes the archive partition of each
 * batch's days; a day BC gets a partition name of its own
 * (src/sql/retention.sql, src/sql/activity.sql)
 * ------------------------------------------------------------------------
 */
ALTER TABLE osv.job_runs ADD COLUMN reason text;
COMMENT ON COLUMN osv.job_runs.reason IS 'why the run was skipped or stopped early, such as another run holding the lock; NULL otherwise';

DROP FUNCTION osv.record_job_run(text, timestamptz, bigint, text, text);
/*
 * Record one run of a job; returns affected.  reason says why a run was
 * skipped or stopped early (NULL for a run that did all it could).
 */
CREATE FUNCTION osv.record_job_run(job text, started_at timestamptz, affected bigint,
								   outcome text, error text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	INSERT INTO osv.job_runs (job, started_at, finished_at, affected, outcome, error, reason)
	VALUES (job, started_at, pg_catalog.clock_timestamp(), affected, outcome, error, reason);
	SELECT affected;
END;
COMMENT ON FUNCTION osv.record_job_run(text, timestamptz, bigint, text, text, text) IS 'record one run of a retention job in osv.job_runs';

/*
 * The number of a job for its advisory lock; an unknown or NULL job name is
 * an error (a job that took no lock would run beside itself).
 */
CREATE FUNCTION osv.job_number(job text)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	CASE job
		WHEN 'archive_activity_logs' THEN RETURN 1;
		WHEN 'delete_abandoned_rooms' THEN RETURN 2;
		WHEN 'revoke_expired_recommendations' THEN RETURN 3;
		WHEN 'purge_trashed' THEN RETURN 4;
		WHEN 'clean_job_runs' THEN RETURN 5;
		WHEN 'create_activity_log_partitions' THEN RETURN 6;
		ELSE
			IF job IS NULL THEN
				RAISE EXCEPTION 'job must not be null' USING ERRCODE = 'null_value_not_allowed';
			END IF;
			RAISE EXCEPTION 'unrecognized retention job "%"', job
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'The jobs are archive_activity_logs, clean_job_runs, create_activity_log_partitions, delete_abandoned_rooms, purge_trashed, revoke_expired_recommendations.';
	END CASE;
END
$$;
COMMENT ON FUNCTION osv.job_number(text) IS 'number of a retention job in its advisory lock key; an error for an unknown job';

/*
 * The advisory lock of a job: pg_try_advisory_xact_lock(7303030, n), where
 * 7303030 is "osv" in ASCII and n = osv.job_number(job).  Returns false
 * when another transaction holds it; an unknown job is an error.
 */
CREATE OR REPLACE FUNCTION osv.try_job_lock(job text)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.pg_try_advisory_xact_lock(7303030, osv.job_number(job));
END;
COMMENT ON FUNCTION osv.try_job_lock(text) IS 'take the advisory lock of a retention job for the transaction; false if another run holds it, an error for an unknown job';

/*
 * The name of the partition holding one UTC day: activity_logs_pYYYYMMDD,
 * with "_bc" appended for a day before the Common Era (to_char writes the
 * year of 1 BC as that of AD 1).
 */
CREATE OR REPLACE FUNCTION osv.activity_log_partition_name(day date)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'activity_logs_p' OPERATOR(pg_catalog.||) pg_catalog.to_char(day, 'YYYYMMDD')
	OPERATOR(pg_catalog.||) CASE WHEN day OPERATOR(pg_catalog.<) '0001-01-01'::date THEN '_bc' ELSE '' END;
COMMENT ON FUNCTION osv.activity_log_partition_name(date) IS 'name of the activity_logs partition of a UTC day';

/*
 * Create the partitions of the UTC days from first_day to first_day +
 * days_ahead that do not exist yet.  Rows of such a day that wait in the
 * default partition move into the new partition.  Each partition carries a
 * CHECK constraint equal to its bounds, so that retention can later attach
 * it elsewhere without a scan.  Returns the number of partitions created.
 *
 * Bounds are written into DDL as text, hence DateStyle ISO: the other
 * styles write a time BC that the input cannot read back.
 *
 * Locks: creating a partition takes ACCESS EXCLUSIVE on activity_logs for
 * a moment; lock_timeout bounds the wait so that writers never queue long
 * behind this function.
 */
CREATE OR REPLACE FUNCTION osv.create_activity_log_partitions(days_ahead integer DEFAULT 14,
												   first_day date DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
SET datestyle = 'ISO, YMD'
AS $$
DECLARE
	start_day date := coalesce(first_day, (pg_catalog.now() AT TIME ZONE 'UTC')::date);
	day date;
	part text;
	lower_bound timestamptz;
	upper_bound timestamptz;
	created integer := 0;
BEGIN
	IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 366 THEN
		RAISE EXCEPTION 'days_ahead must be between 0 and 366'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	FOR i IN 0 .. days_ahead LOOP
		day := start_day + i;
		part := osv.activity_log_partition_name(day);
		CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('osv.%I', part)) IS NOT NULL;

		lower_bound := (day::timestamp AT TIME ZONE 'UTC');
		upper_bound := ((day + 1)::timestamp AT TIME ZONE 'UTC');

		IF EXISTS (SELECT FROM osv.activity_logs_default
				   WHERE occurred_at >= lower_bound AND occurred_at < upper_bound) THEN
			/* Move the waiting rows into a new table, then attach it. */
			LOCK TABLE osv.activity_logs_default IN SHARE ROW EXCLUSIVE MODE;
			EXECUTE pg_catalog.format('CREATE TABLE osv.%I (LIKE osv.activity_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
			EXECUTE pg_catalog.format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
									  part, part || '_bounds', lower_bound, upper_bound);
			PERFORM osv.key_activity_log_partition(pg_catalog.format('osv.%I', part)::regclass);
			EXECUTE pg_catalog.format(
				'WITH moved AS (DELETE FROM osv.activity_logs_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) '
				'INSERT INTO osv.%I SELECT * FROM moved', part)
				USING lower_bound, upper_bound;
			EXECUTE pg_catalog.format('ALTER TABLE osv.activity_logs ATTACH PARTITION osv.%I FOR VALUES FROM (%L) TO (%L)',
									  part, lower_bound, upper_bound);
		ELSE
			EXECUTE pg_catalog.format('CREATE TABLE osv.%I PARTITION OF osv.activity_logs FOR VALUES FROM (%L) TO (%L)',
									  part, lower_bound, upper_bound);
			EXECUTE pg_catalog.format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
									  part, part || '_bounds', lower_bound, upper_bound);
			PERFORM osv.key_activity_log_partition(pg_catalog.format('osv.%I', part)::regclass);
		END IF;
		EXECUTE pg_catalog.format('COMMENT ON TABLE osv.%I IS %L', part,
								  'activity logs of ' || day::text || ' (UTC)');
		created := created + 1;
	END LOOP;
	RETURN created;
END
$$;
COMMENT ON FUNCTION osv.create_activity_log_partitions(integer, date) IS 'create the daily activity_logs partitions from first_day (default today, UTC) to days_ahead days later';

/*
 * Make sure the archive has a partition for the UTC day "day": a daily
 * partition, with a CHECK constraint equal to its bounds, is created when
 * no archive partition covers the day.  Its name is that of the day's
 * partition of activity_logs with "archive_" inserted
 * (osv.activity_log_partition_name: a day BC is named apart).  DateStyle
 * ISO: bounds go into DDL as text, and other styles write a time BC that
 * cannot be read back.
 */
CREATE FUNCTION osv.prepare_archive_day(day date)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
AS $$
DECLARE
	part text := 'activity_logs_archive_' || substr(osv.activity_log_partition_name(day), 15);
	day_start timestamptz := day::timestamp AT TIME ZONE 'UTC';
	day_end timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
	IF EXISTS (SELECT FROM osv.partitions_of('osv.activity_logs_archive') a
			   WHERE NOT a.is_default
				 AND (a.lower_bound IS NULL OR a.lower_bound <= day_start)
				 AND (a.upper_bound IS NULL OR a.upper_bound >= day_end)) THEN
		RETURN;
	END IF;
	EXECUTE format('CREATE TABLE osv.%I PARTITION OF osv.activity_logs_archive FOR VALUES FROM (%L) TO (%L)',
				   part, day_start, day_end);
	EXECUTE format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
				   part, part || '_bounds', day_start, day_end);
	PERFORM osv.key_activity_log_partition(format('osv.%I', part)::regclass);
	EXECUTE format('COMMENT ON TABLE osv.%I IS %L', part, 'archived activity logs of ' || day::text || ' (UTC)');
END
$$;
COMMENT ON FUNCTION osv.prepare_archive_day(date) IS 'create the daily archive partition of a UTC day unless an archive partition covers it';

/*
 * Make sure the archive has a partition for every UTC day of the rows of
 * "source" older than "cutoff" (osv.prepare_archive_day).
 */
CREATE OR REPLACE FUNCTION osv.prepare_archive_days(source regclass, cutoff timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	day date;
BEGIN
	FOR day IN EXECUTE format('SELECT DISTINCT (occurred_at AT TIME ZONE ''UTC'')::date FROM ONLY %s WHERE occurred_at < $1',
							  source) USING cutoff
	LOOP
		PERFORM osv.prepare_archive_day(day);
	END LOOP;
END
$$;
COMMENT ON FUNCTION osv.prepare_archive_days(regclass, timestamptz) IS 'create the daily archive partitions that rows of a table older than a cutoff need';

/*
 * Move the rows of "source" (a partition of activity_logs, or a table
 * detached from it) older than "cutoff" into the archive one by one, in
 * batches of "batch" rows.  Each batch first locks its rows (FOR UPDATE
 * SKIP LOCKED) and reads their days, then makes the archive partitions of
 * those days, then deletes exactly the locked rows, DELETE ... RETURNING
 * feeding the INSERT: so each row is either still in the source or in the
 * archive, never in both, and a row committed by a concurrent insert after
 * the batch began is left for a later batch instead of finding no archive
 * partition.  Returns the number of rows moved.
 */
CREATE OR REPLACE FUNCTION osv.move_logs_to_archive(source regclass, cutoff timestamptz, batch integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	moved bigint := 0;
	n bigint;
	rows tid[];
	days date[];
	day date;
BEGIN
	LOOP
		EXECUTE format('SELECT coalesce(array_agg(ctid), ''{}''), coalesce(array_agg(DISTINCT day), ''{}'') FROM ('
					   '  SELECT ctid, (occurred_at AT TIME ZONE ''UTC'')::date AS day FROM ONLY %s'
					   '   WHERE occurred_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) s', source)
			INTO rows, days USING cutoff, batch;
		FOREACH day IN ARRAY days LOOP
			PERFORM osv.prepare_archive_day(day);
		END LOOP;
		EXECUTE format(
			'WITH moved AS ('
			'  DELETE FROM ONLY %1$s WHERE ctid = ANY ($1)'
			'  RETURNING id, user_id, event_type, occurred_at, properties) '
			'INSERT INTO osv.activity_logs_archive (id, user_id, event_type, occurred_at, properties, archived_at) '
			'SELECT id, user_id, event_type, occurred_at, properties, pg_catalog.now() FROM moved',
			source) USING rows;
		GET DIAGNOSTICS n = ROW_COUNT;
		moved := moved + n;
		EXIT WHEN cardinality(rows) < batch;
	END LOOP;
	RETURN moved;
END
$$;
COMMENT ON FUNCTION osv.move_logs_to_archive(regclass, timestamptz, integer) IS 'move the rows of a table older than a cutoff into the archive, one by one in batches';

/*
 * osv.archive_activity_logs(older_than)
 *
 * Archives the activity logs of every UTC day that ended at least
 * older_than ago: with cutoff = the start (UTC) of the day of
 * now() - older_than, a log is archived when occurred_at < cutoff.  So a
 * log is archived once it is between older_than and older_than + 1 day
 * old, and a log at exactly the cutoff stays.  Rounding to whole days is
 * what makes the job O(partitions): a cutoff inside a day would move that
 * day's rows one by one at every run, and in steady state every row would
 * move that way.
 *
 * 1. Boundary rows move one by one (osv.move_logs_to_archive): the rows of
 *    the default partition older than the cutoff, and those of a partition
 *    that straddles the cutoff (only possible for a partition made by hand
 *    with bounds that are not whole days).
 * 2. Each partition entirely older than the cutoff is DETACHed from
 *    activity_logs, gets archived_at as a column with a constant default
 *    (a catalog change, no rewrite) and is ATTACHed to the archive; its
 *    CHECK constraint <partition>_bounds proves the partition constraint,
 *    so ATTACH does not scan it, and its keys and indexes come along.
 *    If an archive partition already covers part of its range (rows of
 *    that day were archived one by one before), its rows move one by one
 *    and the empty table is dropped.
 *
 * Step 1, and the counting of the rows of step 2, run first so that the
 * ACCESS EXCLUSIVE lock that the first DETACH takes on activity_logs is
 * held for as short a time as possible: only catalog changes happen under
 * it (about 5 ms per partition).
 * The DETACH waits at most lock_timeout (1 s when lock_timeout is 0, the
 * default); when that expires, the job stops, keeps what it archived and
 * leaves the rest for the next run.
 * Concurrent inserts either commit before the DETACH (their rows move with
 * the partition) or wait for the job's commit and then land in the default
 * partition (archived by the next run): nothing is lost or doubled.
 */
/* osv.archive_activity_logs(): see 60_ops.sql, which gives its 1.1 definition. */
COMMENT ON FUNCTION osv.archive_activity_logs(interval, integer) IS 'move activity logs of UTC days that ended at least older_than ago to osv.activity_logs_archive (at most max_partitions whole partitions); returns rows moved';

/*
 * The cutoff of a row job for its interval argument, after checking it
 * (NULL, zero, negative and 100 years or more are errors); the argument
 * of revoke_expired_recommendations is ignored (its cutoff is now()).
 */
CREATE FUNCTION osv.job_cutoff(job text, arg interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	CASE job
		WHEN 'revoke_expired_recommendations' THEN
			RETURN now();
		WHEN 'delete_abandoned_rooms' THEN
			RETURN now() - osv.check_job_interval('idle_for', arg);
		WHEN 'purge_trashed', 'clean_job_runs' THEN
			RETURN now() - osv.check_job_interval('older_than', arg);
		ELSE
			PERFORM osv.job_number(job);
			RAISE EXCEPTION 'retention job "%" does not run in batches of rows', job
				USING ERRCODE = 'invalid_parameter_value';
	END CASE;
END
$$;
COMMENT ON FUNCTION osv.job_cutoff(text, interval) IS 'cutoff of a row retention job for its interval argument, which is checked';

/*
 * One batch of a row job: changes at most "batch" rows older than
 * "cutoff" and returns how many it changed; fewer than "batch" means the
 * job is done (rows locked by the application are skipped, FOR UPDATE
 * SKIP LOCKED, and left for the next run).  Rows are picked by ctid
 * (STYLE.md section 3): "ctid = ANY (ARRAY(subquery))" runs the LIMITed
 * subquery once, where "id IN (subquery)" may run it again per row and
 * change more than "batch" rows.
 *
 *  delete_abandoned_rooms          trashes (soft delete: the cascade trashes
 *                                  the participations) live rooms whose
 *                                  last_activity_at is before the cutoff
 *                                  and with no live participation joined,
 *                                  left or seen at or after it; the UPDATE
 *                                  checks the idleness again after taking
 *                                  the row lock
 *  revoke_expired_recommendations  sets revoked_at = now() on live,
 *                                  unrevoked recommendations with
 *                                  expires_at <= cutoff
 *  purge_trashed                   hard deletes rows trashed before the
 *                                  cutoff, table by table in the order of
 *                                  osv.soft_delete_tables (parents first;
 *                                  their ON DELETE CASCADE keys take the
 *                                  children, which are trashed too); the
 *                                  rows a cascade removes are not counted
 *  clean_job_runs                  deletes records of runs started before
 *                                  the cutoff
 */
CREATE FUNCTION osv.job_batch(job text, cutoff timestamptz, batch integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	total bigint := 0;
	n bigint;
	t regclass;
BEGIN
	CASE job
		WHEN 'delete_abandoned_rooms' THEN
			UPDATE osv.rooms r
			   SET deleted_at = now()
			 WHERE r.ctid = ANY (ARRAY(SELECT c.ctid FROM osv.rooms c
							 WHERE c.deleted_at IS NULL AND c.last_activity_at < cutoff
							   AND NOT EXISTS (SELECT FROM osv.room_participations rp
											   WHERE rp.room_id = c.id AND rp.deleted_at IS NULL
												 AND greatest(rp.joined_at, rp.left_at, rp.last_seen_at) >= cutoff)
							 ORDER BY c.id LIMIT batch
							 FOR UPDATE SKIP LOCKED))
			   AND r.deleted_at IS NULL AND r.last_activity_at < cutoff;
			GET DIAGNOSTICS total = ROW_COUNT;
		WHEN 'revoke_expired_recommendations' THEN
			UPDATE osv.recommendations r
			   SET revoked_at = now()
			 WHERE r.ctid = ANY (ARRAY(SELECT c.ctid FROM osv.recommendations c
							 WHERE c.revoked_at IS NULL AND c.deleted_at IS NULL AND c.expires_at <= cutoff
							 ORDER BY c.id LIMIT batch
							 FOR UPDATE SKIP LOCKED))
			   AND r.revoked_at IS NULL AND r.deleted_at IS NULL AND r.expires_at <= cutoff;
			GET DIAGNOSTICS total = ROW_COUNT;
		WHEN 'purge_trashed' THEN
			FOR t IN SELECT table_name FROM osv.soft_delete_tables ORDER BY position LOOP
				EXECUTE format('DELETE FROM %1$s r WHERE r.ctid = ANY (ARRAY('
							   '  SELECT c.ctid FROM %1$s c WHERE c.deleted_at < $1 ORDER BY c.id LIMIT $2 FOR UPDATE SKIP LOCKED))'
							   ' AND r.deleted_at < $1', t)
					USING cutoff, batch - total;
				GET DIAGNOSTICS n = ROW_COUNT;
				total := total + n;
				EXIT WHEN total >= batch;
			END LOOP;
		WHEN 'clean_job_runs' THEN
			DELETE FROM osv.job_runs r
			 WHERE r.ctid = ANY (ARRAY(SELECT c.ctid FROM osv.job_runs c WHERE c.started_at < cutoff
							 ORDER BY c.id LIMIT batch FOR UPDATE SKIP LOCKED));
			GET DIAGNOSTICS total = ROW_COUNT;
		ELSE
			PERFORM osv.job_cutoff(job, NULL);
	END CASE;
	RETURN total;
END
$$;
COMMENT ON FUNCTION osv.job_batch(text, timestamptz, integer) IS 'one batch of a row retention job: change at most batch rows older than cutoff; returns rows changed';

/*
 * The skeleton of a row job run in the caller's transaction: check the
 * argument, take the job's advisory lock (a run that cannot is recorded as
 * skipped, with the reason, and returns 0), run batches until a short one,
 * record the run.  Every lock is held to the caller's commit.
 */
CREATE FUNCTION osv.run_job_batches(job text, arg interval)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz := osv.job_cutoff(job, arg);
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	IF NOT osv.try_job_lock(job) THEN
		RETURN osv.record_job_run(job, started, 0, 'skipped', NULL, 'another run of the job holds its lock');
	END IF;
	LOOP
		n := osv.job_batch(job, cutoff, batch);
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run(job, started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.run_job_batches(text, interval) IS 'run a row retention job in the caller''s transaction: lock, batches, record; returns rows changed';

/* osv.delete_abandoned_rooms(idle_for): see osv.job_batch(). */
CREATE OR REPLACE FUNCTION osv.delete_abandoned_rooms(idle_for interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('delete_abandoned_rooms', idle_for);
COMMENT ON FUNCTION osv.delete_abandoned_rooms(interval) IS 'trash live rooms with no activity for idle_for; returns rooms trashed';

/* osv.revoke_expired_recommendations(): rows are revoked, never deleted. */
CREATE OR REPLACE FUNCTION osv.revoke_expired_recommendations()
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('revoke_expired_recommendations', NULL);
COMMENT ON FUNCTION osv.revoke_expired_recommendations() IS 'set revoked_at on live recommendations whose expires_at has passed; returns rows revoked';

/*
 * osv.purge_trashed(older_than): row triggers fire as for any DELETE, so
 * the vector layer hears of purged summaries; a row trashed at exactly the
 * cutoff stays.
 */
CREATE OR REPLACE FUNCTION osv.purge_trashed(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('purge_trashed', older_than);
COMMENT ON FUNCTION osv.purge_trashed(interval) IS 'hard delete rows trashed longer than older_than ago; returns rows deleted (cascades not counted)';

/* osv.clean_job_runs(older_than) */
CREATE OR REPLACE FUNCTION osv.clean_job_runs(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('clean_job_runs', older_than);
COMMENT ON FUNCTION osv.clean_job_runs(interval) IS 'delete records of osv.job_runs older than older_than; returns records deleted';

/* The configured interval of a job (NULL for a job without one). */
CREATE FUNCTION osv.job_setting(job text)
RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	CASE osv.job_number(job)
		WHEN 1 THEN RETURN osv.setting_interval('osv.activity_log_retention');
		WHEN 2 THEN RETURN osv.setting_interval('osv.room_idle_timeout');
		WHEN 4 THEN RETURN osv.setting_interval('osv.trash_retention');
		WHEN 5 THEN RETURN osv.setting_interval('osv.job_runs_retention');
		ELSE RETURN NULL;
	END CASE;
END
$$;
COMMENT ON FUNCTION osv.job_setting(text) IS 'the setting that gives the interval argument of a retention job; NULL for a job without one';

/*
 * osv.run_job(job text) RETURNS bigint
 *
 * Runs one job with its configured setting, in a subtransaction: an error
 * of the job rolls back only the job's changes and is recorded in
 * osv.job_runs as a failed run; the function then returns NULL.
 * create_activity_log_partitions creates the partitions of today and the
 * next 14 days (UTC) so that inserts do not fall into the default
 * partition.
 */
CREATE OR REPLACE FUNCTION osv.run_job(job text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	affected bigint;
	message text;
BEGIN
	PERFORM osv.job_number(job);
	BEGIN
		CASE job
			WHEN 'archive_activity_logs' THEN
				affected := osv.archive_activity_logs(osv.job_setting(job));
			WHEN 'create_activity_log_partitions' THEN
				IF osv.try_job_lock(job) THEN
					affected := osv.record_job_run(job, started, osv.create_activity_log_partitions(14), 'succeeded');
				ELSE
					affected := osv.record_job_run(job, started, 0, 'skipped', NULL, 'another run of the job holds its lock');
				END IF;
			ELSE
				affected := osv.run_job_batches(job, osv.job_setting(job));
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
		PERFORM osv.record_job_run(job, started, 0, 'failed', message);
		RAISE WARNING 'retention job "%" failed: %', job, message;
		affected := NULL;
	END;
	RETURN affected;
END
$$;
COMMENT ON FUNCTION osv.run_job(text) IS 'run one retention job with its setting; a failure is recorded in osv.job_runs and returns NULL';

/* osv.run_job_batched: see 65_health.sql. */

/*
 * CALL osv.run_retention_batched(jobs, failed, affected)
 *
 * osv.run_retention() committing as it goes: every job of
 * osv.retention_jobs(), in that order, by CALL osv.run_job_batched() with
 * its setting.  Returns the number of jobs, of failed jobs and the rows
 * all jobs affected.  This is what the scheduler worker runs every
 * osv.retention_interval, and what a pg_cron job should run.
 */
CREATE PROCEDURE osv.run_retention_batched(INOUT jobs integer DEFAULT NULL, INOUT failed integer DEFAULT NULL,
										   INOUT affected bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
	job text;
	n bigint;
BEGIN
	jobs := 0;
	failed := 0;
	affected := 0;
	FOREACH job IN ARRAY ARRAY(SELECT osv.retention_jobs()) LOOP
		n := NULL;
		CALL osv.run_job_batched(job, NULL, n);
		jobs := jobs OPERATOR(pg_catalog.+) 1;
		IF n IS NULL THEN
			failed := failed OPERATOR(pg_catalog.+) 1;
		ELSE
			affected := affected OPERATOR(pg_catalog.+) n;
		END IF;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE osv.run_retention_batched(integer, integer, bigint) IS 'run every retention job with its setting, committing after each batch; returns jobs, failed jobs and rows affected';

/*
 * CALL osv.archive_activity_logs_stepwise(older_than)
 *
 * The same archive, one whole partition per transaction: CALL
 * osv.run_job_batched('archive_activity_logs', older_than), which calls
 * osv.archive_activity_logs(older_than, 1) and commits until no partition
 * older than the cutoff is left (or one could not be locked in time).
 * Writers of activity_logs then wait at most for one partition's DETACH and
 * ATTACH at a time, instead of for the whole catch-up, which is what a
 * backlog of many days (after the jobs did not run for a while) needs.
 * CALL it outside a transaction block; it returns the rows moved.  (No SET
 * clause: a procedure with one cannot commit; every name is qualified.)
 */
CREATE OR REPLACE PROCEDURE osv.archive_activity_logs_stepwise(older_than interval DEFAULT '90 days',
												   INOUT archived bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	CALL osv.run_job_batched('archive_activity_logs', older_than, archived);
END
$$;
COMMENT ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint) IS 'archive like osv.archive_activity_logs(), committing after each partition so that writers never wait long';

/* Trashes and restores of users take one lock before any row lock (src/sql/core.sql, users.sql). */
CREATE FUNCTION osv.lock_user_trash_now()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.pg_advisory_xact_lock(7303030, 100);
COMMENT ON FUNCTION osv.lock_user_trash_now() IS 'take the lock that trashes and restores of users take before any row lock, until the end of the transaction';

CREATE FUNCTION osv.lock_user_trash()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM osv.lock_user_trash_now();
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.lock_user_trash() IS 'trigger: take the lock of trashes and restores of users before the statement locks any row';

CREATE OR REPLACE FUNCTION osv.set_trashed(tbl regclass, id bigint, trash boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	was_trashed boolean;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT FROM osv.soft_delete_tables t WHERE t.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" does not support soft deletes', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Soft deletes apply to the content tables of schema osv, such as osv.documents.';
	END IF;
	IF id IS NULL THEN
		RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	/* Before the row lock below: see osv.lock_user_trash_now(). */
	IF tbl = 'osv.users'::regclass THEN
		PERFORM osv.lock_user_trash_now();
	END IF;
	EXECUTE format('SELECT deleted_at IS NOT NULL FROM %s WHERE id = $1 FOR NO KEY UPDATE', tbl)
		INTO was_trashed USING id;
	IF was_trashed IS NULL THEN
		RAISE EXCEPTION 'row % of "%" does not exist', id, tbl USING ERRCODE = 'no_data_found';
	END IF;
	IF was_trashed = trash THEN
		RETURN false;
	END IF;
	EXECUTE format('UPDATE %s SET deleted_at = CASE WHEN $2 THEN pg_catalog.now() END WHERE id = $1', tbl)
		USING id, trash;
	RETURN true;
END
$$;
COMMENT ON FUNCTION osv.set_trashed(regclass, bigint, boolean) IS 'trash or restore one row; false if it already was in that state';
CREATE TRIGGER lock_user_trash BEFORE UPDATE OF deleted_at ON osv.users
	FOR EACH STATEMENT EXECUTE FUNCTION osv.lock_user_trash();

REVOKE ALL ON PROCEDURE osv.run_retention_batched(integer, integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.record_job_run(text, timestamptz, bigint, text, text, text), osv.prepare_archive_day(date),
	osv.job_batch(text, timestamptz, integer), osv.run_job_batches(text, interval) FROM PUBLIC;
