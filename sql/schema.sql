--
-- CREATE EXTENSION osv creates the schema of DESIGN.md section 3, and
-- DROP EXTENSION leaves nothing behind.
--
CREATE TEMP VIEW catalog_objects AS
	SELECT 'class' AS kind, c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname !~ '^pg_(temp|toast_temp)'
	UNION ALL SELECT 'proc', p.oid::regprocedure::text FROM pg_proc p
	UNION ALL SELECT 'type', t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname !~ '^pg_(temp|toast_temp)'
	UNION ALL SELECT 'namespace', nspname::text FROM pg_namespace WHERE nspname !~ '^pg_(temp|toast_temp)'
	UNION ALL SELECT 'trigger', tgname::text FROM pg_trigger
	UNION ALL SELECT 'constraint', conname::text FROM pg_constraint
	UNION ALL SELECT 'setting', name FROM pg_settings WHERE name LIKE 'osv.%' AND name NOT IN ('osv.database', 'osv.vector_sync_worker', 'osv.scheduler_worker');
CREATE TEMP TABLE before_install AS SELECT * FROM catalog_objects;
CREATE EXTENSION osv;
SELECT count(*) > 0 AS installed_objects FROM (SELECT * FROM catalog_objects EXCEPT ALL SELECT * FROM before_install) x;
DROP EXTENSION osv;
-- whatever remains differs from before: nothing expected
SELECT * FROM catalog_objects EXCEPT ALL SELECT * FROM before_install ORDER BY 1, 2;
SELECT * FROM before_install EXCEPT ALL SELECT * FROM catalog_objects ORDER BY 1, 2;

CREATE EXTENSION osv;

-- the tables of the contract
SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
FROM pg_class c
WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
ORDER BY c.relname;

-- every column of every table and view carries a comment (no rows expected)
SELECT c.relname, a.attname
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = 'osv'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
ORDER BY 1, 2;

-- every function carries a comment (no rows expected)
SELECT p.oid::regprocedure FROM pg_proc p
WHERE p.pronamespace = 'osv'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
ORDER BY 1;

-- foreign keys: all <model>_id bigint columns, all ON DELETE CASCADE
SELECT conrelid::regclass AS child, conname, confrelid::regclass AS parent, confdeltype
FROM pg_constraint
WHERE contype = 'f' AND connamespace = 'osv'::regnamespace AND conparentid = 0
ORDER BY 1, 2;

-- the soft-deletable tables, parents first
SELECT table_name, position FROM osv.soft_delete_tables ORDER BY position;

-- activity_logs has only its default partition after CREATE EXTENSION (daily
-- partitions are data, made at run time: see src/sql/backup.sql) ...
SELECT count(*) AS partitions, bool_or(c.relname = 'activity_logs_default') AS has_default
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'osv.activity_logs'::regclass;
-- ... and daily partitions from today on once the retention jobs made them
SELECT osv.create_activity_log_partitions(14) AS created;
SELECT count(*) >= 15 AS has_partitions_ahead,
       bool_or(c.relname = 'activity_logs_default') AS has_default
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'osv.activity_logs'::regclass;
SELECT to_regclass('osv.' || osv.activity_log_partition_name((now() AT TIME ZONE 'UTC')::date + 14)) IS NOT NULL AS two_weeks_ahead;

-- settings exist with their defaults
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'osv.%' ORDER BY name;
