
/* src/sql/retention.sql: retention jobs (DESIGN.md section 6) and their run records */

/*
 * Every job is a plain SQL function that pg_cron, the scheduler worker
 * (src/scheduler.c) or a person can call:
 *
 *   osv.archive_activity_logs(older_than)   whole UTC days of activity logs
 *                                           older than older_than move to
 *                                           osv.activity_logs_archive
 *   osv.delete_abandoned_rooms(idle_for)    idle live rooms are trashed
 *   osv.revoke_expired_recommendations()    expired live recommendations
 *                                           get revoked_at
 *   osv.purge_trashed(older_than)           long-trashed rows are deleted
 *   osv.clean_job_runs(older_than)          old records of osv.job_runs go
 *
 * osv.run_retention() runs them all with their settings (osv.run_job() runs
 * one by name), each in the caller's transaction.  The same jobs also run
 * committing after each batch, so that a purge of a million rows holds its
 * locks for one batch at a time: CALL osv.run_retention_batched() (all
 * jobs; what the scheduler worker and pg_cron run) and CALL
 * osv.run_job_batched(job) (one; archive_activity_logs_stepwise is the
 * archive's).  The row jobs share one skeleton: osv.job_cutoff() checks
 * the argument, osv.job_batch() runs one batch, osv.run_job_batches()
 * (in one transaction) or osv.run_job_batched() (a transaction a batch)
 * takes the lock, loops and records.
 *
 * Each job takes a transaction-level advisory lock of its own with
 * pg_try_advisory_xact_lock (osv.try_job_lock; an unknown job name is an
 * error): a second run of the same job while the first is in progress
 * returns 0 at once, records itself as skipped, with the reason, and
 * changes nothing.  A committing run takes the lock again in each batch's
 * transaction; if another run took it in between, it stops and leaves the
 * rest to that run.  Each job is idempotent: a second run after the first finds
 * nothing left to do.  Each run that ends, successful or skipped, leaves a
 * row in osv.job_runs; a failing run raises its error to the caller, and
 * osv.run_job() / osv.run_retention() record it as failed.
 *
 * Locks: the row jobs change rows in batches of osv.retention_batch_size
 * with FOR UPDATE SKIP LOCKED, so they never wait for the application's row
 * locks (a row the application holds is taken by the next run).  Archiving
 * takes ACCESS EXCLUSIVE on osv.activity_logs for the DETACH of whole
 * partitions, bounded by lock_timeout; it is the last job of
 * osv.run_retention() so that the lock is held from the first DETACH to
 * the commit and no longer.
 */

/* ------------------------------------------------------------------------
 * Run records
 * ------------------------------------------------------------------------
 */
CREATE TABLE osv.job_runs (
	id bigint GENERATED ALWAYS AS IDENTITY,
	job text NOT NULL,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL,
	affected bigint NOT NULL DEFAULT 0,
	outcome text NOT NULL,
	error text,
	reason text,
	CONSTRAINT job_runs_pkey PRIMARY KEY (id),
	CONSTRAINT job_runs_outcome_check CHECK (outcome OPERATOR(pg_catalog.=) ANY (ARRAY['succeeded', 'skipped', 'failed'])),
	CONSTRAINT job_runs_error_check CHECK ((outcome OPERATOR(pg_catalog.=) 'failed') OPERATOR(pg_catalog.=) (error IS NOT NULL)),
	CONSTRAINT job_runs_finished_at_check CHECK (finished_at OPERATOR(pg_catalog.>=) started_at),
	CONSTRAINT job_runs_affected_check CHECK (affected OPERATOR(pg_catalog.>=) 0)
);
COMMENT ON TABLE osv.job_runs IS 'one row per run of a retention job; kept for osv.job_runs_retention';
COMMENT ON COLUMN osv.job_runs.id IS 'surrogate key';
COMMENT ON COLUMN osv.job_runs.job IS 'name of the job, such as archive_activity_logs';
COMMENT ON COLUMN osv.job_runs.started_at IS 'when the run started (clock time)';
COMMENT ON COLUMN osv.job_runs.finished_at IS 'when the run ended (clock time)';
COMMENT ON COLUMN osv.job_runs.affected IS 'rows the run archived, trashed, revoked or deleted';
COMMENT ON COLUMN osv.job_runs.outcome IS 'succeeded, skipped (another run of the job was in progress) or failed';
COMMENT ON COLUMN osv.job_runs.error IS 'error message of a failed run; NULL otherwise';
COMMENT ON COLUMN osv.job_runs.reason IS 'why the run was skipped or stopped early, such as another run holding the lock; NULL otherwise';

CREATE INDEX job_runs_started_at_idx ON osv.job_runs (started_at);
CREATE INDEX job_runs_job_started_at_idx ON osv.job_runs (job, started_at);

/* Trashed rows are found by age; the indexes hold trashed rows only. */
CREATE INDEX users_deleted_at_idx ON osv.users (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX documents_deleted_at_idx ON osv.documents (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX summaries_deleted_at_idx ON osv.summaries (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX recommendations_deleted_at_idx ON osv.recommendations (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX quizzes_deleted_at_idx ON osv.quizzes (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX answers_deleted_at_idx ON osv.answers (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX rooms_deleted_at_idx ON osv.rooms (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX room_participations_deleted_at_idx ON osv.room_participations (deleted_at) WHERE deleted_at IS NOT NULL;

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
CREATE FUNCTION osv.try_job_lock(job text)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.pg_try_advisory_xact_lock(7303030, osv.job_number(job));
END;
COMMENT ON FUNCTION osv.try_job_lock(text) IS 'take the advisory lock of a retention job for the transaction; false if another run holds it, an error for an unknown job';

/*
 * Check the interval argument of a job: not NULL, positive with no
 * negative part, and shorter than 100 years (older than that is surely a
 * mistake, and now() minus it may leave the timestamp range).
 */
CREATE FUNCTION osv.check_job_interval(arg text, value interval)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NULL THEN
		RAISE EXCEPTION '% must not be null', arg
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	/* Interval subtraction works field by field: this is the time part. */
	IF extract(year FROM value) * 12 + extract(month FROM value) < 0
	   OR extract(day FROM value) < 0
	   OR value - date_trunc('day', value) < interval '0'
	   OR value = interval '0' THEN
		RAISE EXCEPTION 'invalid value "%" for %', value, arg
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The interval must be positive and have no negative part.';
	END IF;
	IF value >= interval '100 years' THEN
		RAISE EXCEPTION 'invalid value "%" for %', value, arg
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The interval must be shorter than 100 years.';
	END IF;
	RETURN value;
END
$$;
COMMENT ON FUNCTION osv.check_job_interval(text, interval) IS 'raise an error unless an interval argument of a retention job is positive and shorter than 100 years';

/* osv.retention_batch_size, read after osv.so is loaded so that it exists. */
CREATE FUNCTION osv.retention_batch_size()
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	/* A C function of osv loads the library, which defines the setting. */
	PERFORM osv.setting_interval('osv.trash_retention');
	RETURN current_setting('osv.retention_batch_size')::integer;
END
$$;
COMMENT ON FUNCTION osv.retention_batch_size() IS 'value of osv.retention_batch_size: rows changed by one statement of a retention job';

/* ------------------------------------------------------------------------
 * Activity log archive
 * ------------------------------------------------------------------------
 */

/*
 * The archive has the columns of osv.activity_logs plus archived_at, so
 * that a partition detached from activity_logs can be attached here with
 * no rewrite; its keys and indexes come with it, since like those of
 * activity_logs they belong to each partition (activity.sql).  Its
 * partitions are the former partitions of activity_logs (renamed
 * activity_logs_archive_pDAY) and, for rows that moved one by one, daily
 * partitions made on demand.  There is no default partition: attaching
 * would have to scan it.
 */
CREATE TABLE osv.activity_logs_archive (
	id bigint NOT NULL,
	user_id bigint NOT NULL,
	event_type text NOT NULL,
	occurred_at timestamptz NOT NULL,
	properties jsonb NOT NULL,
	archived_at timestamptz NOT NULL
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE osv.activity_logs_archive IS 'activity logs older than osv.activity_log_retention, moved by osv.archive_activity_logs()';
COMMENT ON COLUMN osv.activity_logs_archive.id IS 'id the log had in osv.activity_logs';
COMMENT ON COLUMN osv.activity_logs_archive.user_id IS 'user who acted (osv.users); deleting the user deletes the archived logs too';
COMMENT ON COLUMN osv.activity_logs_archive.event_type IS 'kind of event, such as quiz.submitted';
COMMENT ON COLUMN osv.activity_logs_archive.occurred_at IS 'when the event happened';
COMMENT ON COLUMN osv.activity_logs_archive.properties IS 'details of the event, a JSON object';
COMMENT ON COLUMN osv.activity_logs_archive.archived_at IS 'when the log was archived';

/*
 * The partitions of a table partitioned by a range of timestamptz, with
 * their bounds (lower NULL for MINVALUE, upper NULL for MAXVALUE; both
 * NULL for the default partition): the default first, then in the order of
 * their bounds.  With "below" given, only those that start before it (and
 * the default).  Read from the relcache (src/partitions.c).
 */
CREATE FUNCTION osv.partitions_of(parent regclass, below timestamptz DEFAULT NULL)
RETURNS TABLE (partition regclass, lower_bound timestamptz, upper_bound timestamptz, is_default boolean)
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'osv_partitions_of';
COMMENT ON FUNCTION osv.partitions_of(regclass, timestamptz) IS 'partitions of a table partitioned by a timestamptz range, with their bounds (only those starting before "below" when given)';

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
CREATE FUNCTION osv.prepare_archive_days(source regclass, cutoff timestamptz)
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
CREATE FUNCTION osv.move_logs_to_archive(source regclass, cutoff timestamptz, batch integer)
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
 * The archive's cutoff for older_than: the start (UTC) of the day of
 * now() - older_than (see osv.archive_activity_logs).
 */
CREATE FUNCTION osv.archive_cutoff(older_than interval)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN date_trunc('day', (now() - older_than) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
COMMENT ON FUNCTION osv.archive_cutoff(interval) IS 'activity logs before this time are archived by osv.archive_activity_logs(older_than)';

/*
 * The number of whole partitions of activity_logs that
 * osv.archive_activity_logs(older_than) would archive: what is left of a
 * backlog that is archived a partition at a time.
 */
CREATE FUNCTION osv.archivable_partitions(older_than interval)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cutoff timestamptz;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	cutoff := osv.archive_cutoff(older_than);
	RETURN (SELECT count(*)::integer FROM osv.partitions_of('osv.activity_logs', cutoff) p
			 WHERE NOT p.is_default AND p.upper_bound <= cutoff);
END
$$;
COMMENT ON FUNCTION osv.archivable_partitions(interval) IS 'whole partitions of osv.activity_logs older than the archive cutoff of older_than';

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
CREATE FUNCTION osv.archive_activity_logs(older_than interval DEFAULT '90 days',
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
COMMENT ON FUNCTION osv.archive_activity_logs(interval, integer) IS 'move activity logs of UTC days that ended at least older_than ago to osv.activity_logs_archive (at most max_partitions whole partitions); returns rows moved';

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
CREATE PROCEDURE osv.archive_activity_logs_stepwise(older_than interval DEFAULT '90 days',
												   INOUT archived bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	CALL osv.run_job_batched('archive_activity_logs', older_than, archived);
END
$$;
COMMENT ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint) IS 'archive like osv.archive_activity_logs(), committing after each partition so that writers never wait long';

/* ------------------------------------------------------------------------
 * Rooms, recommendations, trash, run records: the row jobs
 *
 * A row job changes rows in batches of osv.retention_batch_size.  Its
 * batch is one statement of osv.job_batch(); the two skeletons below run
 * the batches either in the caller's transaction (osv.run_job_batches,
 * behind the public functions) or one transaction per batch (CALL
 * osv.run_job_batched).  Both fix the job's cutoff once at the start, so
 * a run ends even while new rows keep qualifying.
 * ------------------------------------------------------------------------
 */

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
CREATE FUNCTION osv.delete_abandoned_rooms(idle_for interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('delete_abandoned_rooms', idle_for);
COMMENT ON FUNCTION osv.delete_abandoned_rooms(interval) IS 'trash live rooms with no activity for idle_for; returns rooms trashed';

/* osv.revoke_expired_recommendations(): rows are revoked, never deleted. */
CREATE FUNCTION osv.revoke_expired_recommendations()
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
CREATE FUNCTION osv.purge_trashed(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('purge_trashed', older_than);
COMMENT ON FUNCTION osv.purge_trashed(interval) IS 'hard delete rows trashed longer than older_than ago; returns rows deleted (cascades not counted)';

/* osv.clean_job_runs(older_than) */
CREATE FUNCTION osv.clean_job_runs(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN osv.run_job_batches('clean_job_runs', older_than);
COMMENT ON FUNCTION osv.clean_job_runs(interval) IS 'delete records of osv.job_runs older than older_than; returns records deleted';

/* ------------------------------------------------------------------------
 * Running jobs by name
 * ------------------------------------------------------------------------
 */

/* The jobs of osv.run_retention(), in the order it runs them. */
CREATE FUNCTION osv.retention_jobs()
RETURNS SETOF text
LANGUAGE sql IMMUTABLE
BEGIN ATOMIC
	SELECT j FROM unnest(ARRAY['revoke_expired_recommendations', 'delete_abandoned_rooms', 'purge_trashed',
							   'clean_job_runs', 'create_activity_log_partitions', 'archive_activity_logs']::text[])
		WITH ORDINALITY AS u(j, n) ORDER BY n;
END;
COMMENT ON FUNCTION osv.retention_jobs() IS 'names of the retention jobs, in the order osv.run_retention() runs them';

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
CREATE FUNCTION osv.run_job(job text)
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

/*
 * osv.run_retention() RETURNS TABLE (job text, affected bigint)
 *
 * Runs every job of osv.retention_jobs() with its setting, each in its own
 * subtransaction (osv.run_job), so that one job's error is recorded and
 * does not skip the others.  affected is NULL for a failed job.  All of it
 * is one transaction, which holds every row lock to the end: for large
 * amounts of work, CALL osv.run_retention_batched() instead.
 */
CREATE FUNCTION osv.run_retention()
RETURNS TABLE (job text, affected bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	FOR job IN SELECT osv.retention_jobs() LOOP
		affected := osv.run_job(job);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION osv.run_retention() IS 'run every retention job with its setting, recording each run in osv.job_runs';

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

REVOKE ALL ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint), osv.run_job_batched(text, interval, bigint),
	osv.run_retention_batched(integer, integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.archivable_partitions(interval), osv.partitions_of(regclass, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.archive_activity_logs(interval, integer), osv.delete_abandoned_rooms(interval),
	osv.revoke_expired_recommendations(), osv.purge_trashed(interval), osv.clean_job_runs(interval),
	osv.run_job(text), osv.run_retention(), osv.record_job_run(text, timestamptz, bigint, text, text, text),
	osv.move_logs_to_archive(regclass, timestamptz, integer), osv.prepare_archive_days(regclass, timestamptz),
	osv.prepare_archive_day(date), osv.job_batch(text, timestamptz, integer), osv.run_job_batches(text, interval)
	FROM PUBLIC;
