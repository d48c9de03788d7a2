
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
 * one by name), and CALL osv.archive_activity_logs_stepwise() archives a
 * backlog of many days one partition per transaction.
 *
 * Each job takes a transaction-level advisory lock of its own with
 * pg_try_advisory_xact_lock: a second run of the same job while the first
 * is in progress returns 0 at once, records itself as skipped and changes
 * nothing.  Each job is idempotent: a second run after the first finds
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

/* Record one run of a job; returns affected. */
CREATE FUNCTION osv.record_job_run(job text, started_at timestamptz, affected bigint,
								   outcome text, error text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	INSERT INTO osv.job_runs (job, started_at, finished_at, affected, outcome, error)
	VALUES (job, started_at, pg_catalog.clock_timestamp(), affected, outcome, error);
	SELECT affected;
END;
COMMENT ON FUNCTION osv.record_job_run(text, timestamptz, bigint, text, text) IS 'record one run of a retention job in osv.job_runs';

/*
 * The advisory lock of a job: pg_try_advisory_xact_lock(7303030, n), where
 * 7303030 is "osv" in ASCII and n the job's number below.  Returns false
 * when another transaction holds it.
 */
CREATE FUNCTION osv.try_job_lock(job text)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.pg_try_advisory_xact_lock(7303030,
		CASE job
			WHEN 'archive_activity_logs' THEN 1
			WHEN 'delete_abandoned_rooms' THEN 2
			WHEN 'revoke_expired_recommendations' THEN 3
			WHEN 'purge_trashed' THEN 4
			WHEN 'clean_job_runs' THEN 5
			WHEN 'create_activity_log_partitions' THEN 6
		END);
END;
COMMENT ON FUNCTION osv.try_job_lock(text) IS 'take the advisory lock of a retention job for the transaction; false if another run holds it';

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
 * Make sure the archive has a partition for every UTC day of the rows of
 * "source" older than "cutoff": a daily partition, with a CHECK constraint
 * equal to its bounds, is created for a day no archive partition covers.
 */
CREATE FUNCTION osv.prepare_archive_days(source regclass, cutoff timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	day date;
	part text;
	day_start timestamptz;
	day_end timestamptz;
BEGIN
	FOR day IN EXECUTE format('SELECT DISTINCT (occurred_at AT TIME ZONE ''UTC'')::date FROM ONLY %s WHERE occurred_at < $1',
							  source) USING cutoff
	LOOP
		day_start := day::timestamp AT TIME ZONE 'UTC';
		day_end := (day + 1)::timestamp AT TIME ZONE 'UTC';
		CONTINUE WHEN EXISTS (SELECT FROM osv.partitions_of('osv.activity_logs_archive') a
							  WHERE NOT a.is_default
								AND (a.lower_bound IS NULL OR a.lower_bound <= day_start)
								AND (a.upper_bound IS NULL OR a.upper_bound >= day_end));
		part := 'activity_logs_archive_p' || to_char(day, 'YYYYMMDD');
		EXECUTE format('CREATE TABLE osv.%I PARTITION OF osv.activity_logs_archive FOR VALUES FROM (%L) TO (%L)',
					   part, day_start, day_end);
		EXECUTE format('ALTER TABLE osv.%I ADD CONSTRAINT %I CHECK (occurred_at >= %L AND occurred_at < %L)',
					   part, part || '_bounds', day_start, day_end);
		PERFORM osv.key_activity_log_partition(format('osv.%I', part)::regclass);
		EXECUTE format('COMMENT ON TABLE osv.%I IS %L', part, 'archived activity logs of ' || day::text || ' (UTC)');
	END LOOP;
END
$$;
COMMENT ON FUNCTION osv.prepare_archive_days(regclass, timestamptz) IS 'create the daily archive partitions that rows of a table older than a cutoff need';

/*
 * Move the rows of "source" (a partition of activity_logs, or a table
 * detached from it) older than "cutoff" into the archive one by one, in
 * batches of "batch" rows: DELETE ... RETURNING feeds the INSERT, so each
 * row is either still in the source or in the archive, never in both.
 * Returns the number of rows moved.
 */
CREATE FUNCTION osv.move_logs_to_archive(source regclass, cutoff timestamptz, batch integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	moved bigint := 0;
	n bigint;
BEGIN
	PERFORM osv.prepare_archive_days(source, cutoff);
	LOOP
		EXECUTE format(
			'WITH moved AS ('
			'  DELETE FROM ONLY %1$s WHERE ctid = ANY (ARRAY('
			'    SELECT ctid FROM ONLY %1$s WHERE occurred_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))'
			'  RETURNING id, user_id, event_type, occurred_at, properties) '
			'INSERT INTO osv.activity_logs_archive (id, user_id, event_type, occurred_at, properties, archived_at) '
			'SELECT id, user_id, event_type, occurred_at, properties, pg_catalog.now() FROM moved',
			source) USING cutoff, batch;
		GET DIAGNOSTICS n = ROW_COUNT;
		moved := moved + n;
		EXIT WHEN n < batch;
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
	 * 2. Whole partitions.  First each is locked in SHARE mode (readers go
	 * on; only writers of those old days wait) and its rows are counted, so
	 * that the counting, the only part that reads rows, happens before the
	 * ACCESS EXCLUSIVE lock on activity_logs that the first DETACH takes.
	 */
	FOR p IN SELECT * FROM osv.partitions_of('osv.activity_logs', cutoff)
			 WHERE NOT is_default AND upper_bound <= cutoff
	LOOP
		EXIT WHEN cardinality(parts) >= max_partitions;
		BEGIN
			EXECUTE format('LOCK TABLE ONLY %s IN SHARE MODE', p.partition);
		EXCEPTION WHEN lock_not_available THEN
			RAISE LOG 'osv: archive_activity_logs could not lock partition %', p.partition;
			EXIT;
		END;
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
		IF part_name ~ '^activity_logs_p[0-9]{8}$' THEN
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
	RETURN osv.record_job_run('archive_activity_logs', started, moved, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.archive_activity_logs(interval, integer) IS 'move activity logs of UTC days that ended at least older_than ago to osv.activity_logs_archive (at most max_partitions whole partitions); returns rows moved';

/*
 * CALL osv.archive_activity_logs_stepwise(older_than)
 *
 * The same archive, one whole partition per transaction: it calls
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
DECLARE
	remaining integer;
	previous integer;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	archived := 0;
	LOOP
		archived := archived OPERATOR(pg_catalog.+) osv.archive_activity_logs(older_than, 1);
		COMMIT;
		remaining := osv.archivable_partitions(older_than);
		EXIT WHEN remaining OPERATOR(pg_catalog.=) 0 OR remaining OPERATOR(pg_catalog.>=) previous;
		previous := remaining;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint) IS 'archive like osv.archive_activity_logs(), committing after each partition so that writers never wait long';

/* ------------------------------------------------------------------------
 * Rooms, recommendations, trash, run records
 * ------------------------------------------------------------------------
 */

/*
 * osv.delete_abandoned_rooms(idle_for)
 *
 * Trashes (soft delete, so the cascade trashes the participations) every
 * live room with no activity since cutoff = now() - idle_for: its
 * last_activity_at is older than the cutoff, and no live participation
 * joined, left or was seen at or after the cutoff.  A room last active at
 * exactly the cutoff stays.  Rooms locked by the application (a join in
 * progress) are skipped and looked at again by the next run; the UPDATE
 * checks the idleness again after taking the row lock.
 */
CREATE FUNCTION osv.delete_abandoned_rooms(idle_for interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	PERFORM osv.check_job_interval('idle_for', idle_for);
	cutoff := now() - idle_for;
	IF NOT osv.try_job_lock('delete_abandoned_rooms') THEN
		RETURN osv.record_job_run('delete_abandoned_rooms', started, 0, 'skipped');
	END IF;
	LOOP
		UPDATE osv.rooms r
		   SET deleted_at = now()
		 WHERE r.id IN (SELECT c.id FROM osv.rooms c
						 WHERE c.deleted_at IS NULL AND c.last_activity_at < cutoff
						   AND NOT EXISTS (SELECT FROM osv.room_participations rp
										   WHERE rp.room_id = c.id AND rp.deleted_at IS NULL
											 AND greatest(rp.joined_at, rp.left_at, rp.last_seen_at) >= cutoff)
						 ORDER BY c.id LIMIT batch
						 FOR UPDATE SKIP LOCKED)
		   AND r.deleted_at IS NULL AND r.last_activity_at < cutoff;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run('delete_abandoned_rooms', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.delete_abandoned_rooms(interval) IS 'trash live rooms with no activity for idle_for; returns rooms trashed';

/*
 * osv.revoke_expired_recommendations()
 *
 * Sets revoked_at = now() on live, unrevoked recommendations whose
 * expires_at is now or earlier (a recommendation is valid until, and not
 * at, expires_at).  Rows are revoked, never deleted.
 */
CREATE FUNCTION osv.revoke_expired_recommendations()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	IF NOT osv.try_job_lock('revoke_expired_recommendations') THEN
		RETURN osv.record_job_run('revoke_expired_recommendations', started, 0, 'skipped');
	END IF;
	LOOP
		UPDATE osv.recommendations r
		   SET revoked_at = now()
		 WHERE r.id IN (SELECT c.id FROM osv.recommendations c
						 WHERE c.revoked_at IS NULL AND c.deleted_at IS NULL AND c.expires_at <= now()
						 ORDER BY c.id LIMIT batch
						 FOR UPDATE SKIP LOCKED)
		   AND r.revoked_at IS NULL AND r.deleted_at IS NULL AND r.expires_at <= now();
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run('revoke_expired_recommendations', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.revoke_expired_recommendations() IS 'set revoked_at on live recommendations whose expires_at has passed; returns rows revoked';

/*
 * osv.purge_trashed(older_than)
 *
 * Hard deletes the rows of every soft-deletable table (osv.soft_delete_tables)
 * trashed before cutoff = now() - older_than; a row trashed at exactly the
 * cutoff stays.  Parents go first and their ON DELETE CASCADE foreign keys
 * take the children, which the soft-delete invariant guarantees are trashed
 * too (a live row never refers to a trashed one); the activity logs, awards
 * and points of a purged user go with it.  Row triggers fire as for any
 * DELETE, so the vector layer hears of purged summaries.  Rows locked by a
 * restore in progress are skipped.  Returns the rows deleted directly (rows
 * removed by a cascade are not counted).
 */
CREATE FUNCTION osv.purge_trashed(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
	t regclass;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	cutoff := now() - older_than;
	IF NOT osv.try_job_lock('purge_trashed') THEN
		RETURN osv.record_job_run('purge_trashed', started, 0, 'skipped');
	END IF;
	FOR t IN SELECT table_name FROM osv.soft_delete_tables ORDER BY position LOOP
		LOOP
			EXECUTE format('DELETE FROM %1$s r WHERE r.id IN ('
						   '  SELECT c.id FROM %1$s c WHERE c.deleted_at < $1 ORDER BY c.id LIMIT $2 FOR UPDATE SKIP LOCKED)'
						   ' AND r.deleted_at < $1', t)
				USING cutoff, batch;
			GET DIAGNOSTICS n = ROW_COUNT;
			total := total + n;
			EXIT WHEN n < batch;
		END LOOP;
	END LOOP;
	RETURN osv.record_job_run('purge_trashed', started, total, 'succeeded');
END
$$;
COMMENT ON FUNCTION osv.purge_trashed(interval) IS 'hard delete rows trashed longer than older_than ago; returns rows deleted (cascades not counted)';

/*
 * osv.clean_job_runs(older_than): deletes the records of osv.job_runs of
 * runs that started before now() - older_than.
 */
CREATE FUNCTION osv.clean_job_runs(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	cutoff timestamptz;
	batch integer := osv.retention_batch_size();
	total bigint := 0;
	n bigint;
BEGIN
	PERFORM osv.check_job_interval('older_than', older_than);
	cutoff := now() - older_than;
	IF NOT osv.try_job_lock('clean_job_runs') THEN
		RETURN osv.record_job_run('clean_job_runs', started, 0, 'skipped');
	END IF;
	LOOP
		DELETE FROM osv.job_runs r
		 WHERE r.id IN (SELECT c.id FROM osv.job_runs c WHERE c.started_at < cutoff
						 ORDER BY c.id LIMIT batch FOR UPDATE SKIP LOCKED);
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
		EXIT WHEN n < batch;
	END LOOP;
	RETURN osv.record_job_run('clean_job_runs', started, total, 'succeeded');
END
$$;
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
	IF job IS NULL THEN
		RAISE EXCEPTION 'job must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF job NOT IN (SELECT osv.retention_jobs()) THEN
		RAISE EXCEPTION 'unrecognized retention job "%"', job
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The jobs are ' || (SELECT string_agg(j, ', ' ORDER BY j) FROM osv.retention_jobs() j) || '.';
	END IF;
	BEGIN
		CASE job
			WHEN 'archive_activity_logs' THEN
				affected := osv.archive_activity_logs(osv.setting_interval('osv.activity_log_retention'));
			WHEN 'delete_abandoned_rooms' THEN
				affected := osv.delete_abandoned_rooms(osv.setting_interval('osv.room_idle_timeout'));
			WHEN 'revoke_expired_recommendations' THEN
				affected := osv.revoke_expired_recommendations();
			WHEN 'purge_trashed' THEN
				affected := osv.purge_trashed(osv.setting_interval('osv.trash_retention'));
			WHEN 'clean_job_runs' THEN
				affected := osv.clean_job_runs(osv.setting_interval('osv.job_runs_retention'));
			WHEN 'create_activity_log_partitions' THEN
				IF osv.try_job_lock(job) THEN
					affected := osv.record_job_run(job, started, osv.create_activity_log_partitions(14), 'succeeded');
				ELSE
					affected := osv.record_job_run(job, started, 0, 'skipped');
				END IF;
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
 * does not skip the others.  affected is NULL for a failed job.  This is
 * what the scheduler worker runs every osv.retention_interval, and what a
 * pg_cron job should run: SELECT osv.run_retention().
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

REVOKE ALL ON PROCEDURE osv.archive_activity_logs_stepwise(interval, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.archivable_partitions(interval), osv.partitions_of(regclass, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.archive_activity_logs(interval, integer), osv.delete_abandoned_rooms(interval),
	osv.revoke_expired_recommendations(), osv.purge_trashed(interval), osv.clean_job_runs(interval),
	osv.run_job(text), osv.run_retention(), osv.record_job_run(text, timestamptz, bigint, text, text),
	osv.move_logs_to_archive(regclass, timestamptz, integer), osv.prepare_archive_days(regclass, timestamptz)
	FROM PUBLIC;
