
/* src/sql/activity.sql: the activity domain (activity logs, partitioned by day) */

/*
 * activity_logs is range-partitioned by occurred_at, one partition per UTC
 * day, so that retention detaches whole partitions instead of deleting
 * rows.  Partitions are created ahead of time by
 * osv.create_activity_log_partitions(); a row of a day with no partition
 * (an import of old events, or a day the maintenance did not run for)
 * lands in the default partition and is never refused.
 *
 * The primary key, the foreign key to users and the indexes are those of
 * each partition (osv.key_activity_log_partition()), not of the
 * partitioned table.  The daily partitions are made at run time and are
 * not members of the extension, so pg_dump dumps them like any table: it
 * creates and attaches each one, loads its rows, and only then creates its
 * keys, indexes and foreign key (after the users' rows are in).  Keys on
 * the partitioned table, a member, would be cloned onto each partition as
 * it is attached, and the restore would then fail to create them a second
 * time (backup.sql).
 */
CREATE TABLE osv.activity_logs (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	event_type text NOT NULL,
	occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	properties jsonb NOT NULL DEFAULT '{}',
	CONSTRAINT activity_logs_event_type_check CHECK (event_type OPERATOR(pg_catalog.~) '^[A-Za-z][A-Za-z0-9_.:/-]{0,99}$'),
	CONSTRAINT activity_logs_properties_check CHECK (pg_catalog.jsonb_typeof(properties) OPERATOR(pg_catalog.=) 'object')
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE osv.activity_logs IS 'what users did, partitioned by day of occurred_at; archived after osv.activity_log_retention';
COMMENT ON COLUMN osv.activity_logs.id IS 'surrogate key (unique together with occurred_at)';
COMMENT ON COLUMN osv.activity_logs.user_id IS 'user who acted (osv.users)';
COMMENT ON COLUMN osv.activity_logs.event_type IS 'kind of event, such as quiz.submitted';
COMMENT ON COLUMN osv.activity_logs.occurred_at IS 'when the event happened (the source''s "timestamp")';
COMMENT ON COLUMN osv.activity_logs.properties IS 'details of the event, a JSON object';

/*
 * The primary key (id, occurred_at), the foreign key to osv.users (ON
 * DELETE CASCADE) and the indexes by user, event type and time of one
 * partition of activity_logs or of the archive.
 */
CREATE FUNCTION osv.key_activity_log_partition(part regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	/* Names chosen by PostgreSQL: <partition>_pkey, <partition>_user_id_fkey, ... */
	EXECUTE pg_catalog.format('ALTER TABLE %s ADD PRIMARY KEY (id, occurred_at), '
							  'ADD FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE', part);
	EXECUTE pg_catalog.format('CREATE INDEX ON %s (user_id, occurred_at)', part);
	EXECUTE pg_catalog.format('CREATE INDEX ON %s (event_type, occurred_at)', part);
	EXECUTE pg_catalog.format('CREATE INDEX ON %s (occurred_at)', part);
END
$$;
COMMENT ON FUNCTION osv.key_activity_log_partition(regclass) IS 'create the primary key, foreign key and indexes of a partition of osv.activity_logs or osv.activity_logs_archive';
REVOKE ALL ON FUNCTION osv.key_activity_log_partition(regclass) FROM PUBLIC;

CREATE TABLE osv.activity_logs_default PARTITION OF osv.activity_logs DEFAULT;
COMMENT ON TABLE osv.activity_logs_default IS 'activity logs of days that have no partition of their own';
SELECT osv.key_activity_log_partition('osv.activity_logs_default');

/*
 * The name of the partition holding one UTC day: activity_logs_pYYYYMMDD,
 * with "_bc" appended for a day before the Common Era (to_char writes the
 * year of 1 BC as that of AD 1).
 */
CREATE FUNCTION osv.activity_log_partition_name(day date)
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
CREATE FUNCTION osv.create_activity_log_partitions(days_ahead integer DEFAULT 14,
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
 * No daily partition is made here: the script's objects belong to the
 * extension, and partitions of the install day would collide with those
 * of a dump restored on that day.  The first run of the retention jobs
 * (the scheduler worker at its start, or pg_cron) makes them; until then
 * logs wait in the default partition.
 */

/*
 * osv.log_activity(user_id, event_type, properties): record an event, now.
 *
 * Returns the id of the new row, or NULL, storing nothing, when the user
 * opted out of logging (users.logging_opt_out) or is trashed (their data
 * is on its way out; logging must not fail the request that calls it).
 * An unknown user is an error, as the foreign key would say; so are a
 * null user or event type, an event type that activity_logs_event_type_check
 * would refuse, and properties that are not a JSON object (NULL means {}).
 * Meant to be called on every request, hence in C (src/domain.c): one
 * prepared INSERT ... SELECT that reads the user's row by primary key and
 * stores the event (bench/domain_log_activity.sh compares it with a plain
 * INSERT).
 */
CREATE FUNCTION osv.log_activity(user_id bigint, event_type text, properties jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_log_activity';
COMMENT ON FUNCTION osv.log_activity(bigint, text, jsonb) IS 'record an activity event of a user and return its id; NULL, storing nothing, when the user opted out of logging or is trashed';
