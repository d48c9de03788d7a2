
/* ------------------------------------------------------------------------
 * Logical backups keep every row (src/sql/backup.sql, src/restore.c)
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.restoring()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_restoring';
COMMENT ON FUNCTION osv.restoring() IS 'whether the current statement loads rows of a dump (COPY with row_security off), when triggers add nothing';

/* The triggers that derive state skip the rows of a restore. */
DROP TRIGGER soft_delete_guard ON osv.users;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch ON osv.users
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard();
DROP TRIGGER soft_delete_guard ON osv.documents;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id ON osv.documents
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users');
DROP TRIGGER soft_delete_guard ON osv.summaries;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, document_id, user_id ON osv.summaries
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('document_id', 'osv.documents', 'user_id', 'osv.users');
DROP TRIGGER soft_delete_guard ON osv.recommendations;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id, summary_id ON osv.recommendations
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users', 'summary_id', 'osv.summaries');
DROP TRIGGER soft_delete_guard ON osv.quizzes;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id, document_id ON osv.quizzes
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users', 'document_id', 'osv.documents');
DROP TRIGGER soft_delete_guard ON osv.answers;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, quiz_id, user_id ON osv.answers
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('quiz_id', 'osv.quizzes', 'user_id', 'osv.users');
DROP TRIGGER soft_delete_guard ON osv.rooms;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id ON osv.rooms
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users');
DROP TRIGGER soft_delete_guard ON osv.room_participations;
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, room_id, user_id ON osv.room_participations
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('room_id', 'osv.rooms', 'user_id', 'osv.users');
DROP TRIGGER add_to_total ON osv.points;
CREATE TRIGGER add_to_total AFTER INSERT ON osv.points
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.points_after_insert();
DROP TRIGGER evaluate_badges ON osv.documents;
CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.documents
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.evaluate_badges_after_insert('documents_at_least');
DROP TRIGGER evaluate_badges ON osv.answers;
CREATE TRIGGER evaluate_badges AFTER INSERT OR UPDATE OF passed ON osv.answers
	FOR EACH ROW WHEN (NEW.passed AND NEW.deleted_at IS NULL AND NOT osv.restoring()) EXECUTE FUNCTION osv.evaluate_badges_trigger('quizzes_passed_at_least');
DROP TRIGGER evaluate_badges ON osv.room_participations;
CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.room_participations
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.evaluate_badges_after_insert('rooms_joined_at_least');
DROP TRIGGER vector_enqueue_insert ON osv.summaries;
CREATE TRIGGER vector_enqueue_insert AFTER INSERT ON osv.summaries
	FOR EACH ROW WHEN (NEW.embedding IS NOT NULL AND NEW.deleted_at IS NULL AND NOT osv.restoring())
	EXECUTE FUNCTION osv.vector_enqueue();

CREATE FUNCTION osv.analytics_secret_replace()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM osv.analytics_secret;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.analytics_secret_replace() IS 'trigger: a restored analytics secret replaces the one drawn by CREATE EXTENSION';
REVOKE ALL ON FUNCTION osv.analytics_secret_replace() FROM PUBLIC;

CREATE TRIGGER replace_on_restore BEFORE INSERT ON osv.analytics_secret
	FOR EACH ROW WHEN (osv.restoring()) EXECUTE FUNCTION osv.analytics_secret_replace();

/*
 * Activity logs: the keys, foreign key and indexes move from the
 * partitioned tables to each partition, and the daily partitions stop
 * being members of the extension (activity.sql says why).  A partition
 * detached from its parent keeps the indexes and the foreign key it had
 * through the parent, as its own; with the parent's gone, it is attached
 * again, which its <partition>_bounds CHECK constraint makes a catalog
 * change (the default partition is scanned once).  No index is rebuilt.
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

DO $$
DECLARE
	parent regclass;
	parts regclass[];
	lowers timestamptz[];
	uppers timestamptz[];
	defaults boolean[];
	fk record;
	osv_oid oid := (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'osv');
BEGIN
	FOREACH parent IN ARRAY ARRAY['osv.activity_logs', 'osv.activity_logs_archive']::regclass[] LOOP
		SELECT pg_catalog.array_agg(p.partition), pg_catalog.array_agg(p.lower_bound),
			   pg_catalog.array_agg(p.upper_bound), pg_catalog.array_agg(p.is_default)
		  INTO parts, lowers, uppers, defaults
		  FROM osv.partitions_of(parent) p;
		FOR i IN 1 .. COALESCE(pg_catalog.cardinality(parts), 0) LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', parent, parts[i]);
		END LOOP;
		IF parent OPERATOR(pg_catalog.=) 'osv.activity_logs'::regclass THEN
			ALTER TABLE osv.activity_logs DROP CONSTRAINT activity_logs_pkey,
				DROP CONSTRAINT activity_logs_user_id_fkey;
			DROP INDEX osv.activity_logs_user_id_occurred_at_idx, osv.activity_logs_event_type_occurred_at_idx,
				osv.activity_logs_occurred_at_idx;
		ELSE
			ALTER TABLE osv.activity_logs_archive DROP CONSTRAINT activity_logs_archive_pkey,
				DROP CONSTRAINT activity_logs_archive_user_id_fkey;
			DROP INDEX osv.activity_logs_archive_user_id_occurred_at_idx,
				osv.activity_logs_archive_event_type_occurred_at_idx, osv.activity_logs_archive_occurred_at_idx;
		END IF;
		FOR i IN 1 .. COALESCE(pg_catalog.cardinality(parts), 0) LOOP
			/* The foreign key kept the name of the parent's: name it as its own. */
			FOR fk IN SELECT c.conname, r.relname FROM pg_catalog.pg_constraint c
					  JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid
					  WHERE c.conrelid OPERATOR(pg_catalog.=) parts[i] AND c.contype OPERATOR(pg_catalog.=) 'f'
						AND c.conname OPERATOR(pg_catalog.<>) (r.relname OPERATOR(pg_catalog.||) '_user_id_fkey')
			LOOP
				EXECUTE pg_catalog.format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', parts[i], fk.conname,
										  fk.relname OPERATOR(pg_catalog.||) '_user_id_fkey');
			END LOOP;
			IF defaults[i] THEN
				EXECUTE pg_catalog.format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', parent, parts[i]);
			ELSE
				EXECUTE pg_catalog.format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)', parent, parts[i],
										  COALESCE(pg_catalog.quote_literal(lowers[i]), 'MINVALUE'),
										  COALESCE(pg_catalog.quote_literal(uppers[i]), 'MAXVALUE'));
				/* Daily partitions made by the 1.0 install script leave the extension. */
				IF EXISTS (SELECT FROM pg_catalog.pg_depend d
						   WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
							 AND d.objid OPERATOR(pg_catalog.=) parts[i]
							 AND d.refobjid OPERATOR(pg_catalog.=) osv_oid AND d.deptype OPERATOR(pg_catalog.=) 'e') THEN
					EXECUTE pg_catalog.format('ALTER EXTENSION osv DROP TABLE %s', parts[i]);
				END IF;
			END IF;
		END LOOP;
	END LOOP;
END
$$;

/* osv.create_activity_log_partitions(): see 20_retention.sql, which gives its 1.1 definition. */

/* osv.prepare_archive_days(): see 20_retention.sql, which gives its 1.1 definition. */

/* Every table and sequence that holds data is dumped with its rows (backup.sql). */
SELECT pg_catalog.pg_extension_config_dump('osv.users', '');
SELECT pg_catalog.pg_extension_config_dump('osv.users_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.documents', '');
SELECT pg_catalog.pg_extension_config_dump('osv.documents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.summaries', '');
SELECT pg_catalog.pg_extension_config_dump('osv.summaries_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.recommendations', '');
SELECT pg_catalog.pg_extension_config_dump('osv.recommendations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.quizzes', '');
SELECT pg_catalog.pg_extension_config_dump('osv.quizzes_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.answers', '');
SELECT pg_catalog.pg_extension_config_dump('osv.answers_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.rooms', '');
SELECT pg_catalog.pg_extension_config_dump('osv.rooms_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.room_participations', '');
SELECT pg_catalog.pg_extension_config_dump('osv.room_participations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.activity_logs_default', '');
SELECT pg_catalog.pg_extension_config_dump('osv.activity_logs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.badges', '');
SELECT pg_catalog.pg_extension_config_dump('osv.badges_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.awards', '');
SELECT pg_catalog.pg_extension_config_dump('osv.awards_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.points', '');
SELECT pg_catalog.pg_extension_config_dump('osv.points_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.point_totals', '');
SELECT pg_catalog.pg_extension_config_dump('osv.trash_batch_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.vector_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('osv.vector_outbox_claim_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.storage_deletions', '');
SELECT pg_catalog.pg_extension_config_dump('osv.storage_deletions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('osv.erasure_receipts', '');
SELECT pg_catalog.pg_extension_config_dump('osv.job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('osv.job_runs_id_seq', '');
