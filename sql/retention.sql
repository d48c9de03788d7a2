--
-- Retention jobs (DESIGN.md section 6): exact boundaries, the archive,
-- run records, bad input.  Each scenario runs in one transaction so that
-- now() is one instant and ages at the boundary are exact.
--
SET client_min_messages = warning;
TRUNCATE osv.users CASCADE;
TRUNCATE osv.job_runs;
RESET client_min_messages;

INSERT INTO osv.users (auth0_id, email, name)
VALUES ('auth0|ret1', 'ret1@example.org', 'Ret One'), ('auth0|ret2', 'ret2@example.org', 'Ret Two');
CREATE TEMP TABLE u AS SELECT id, name FROM osv.users;

--
-- 1. Bad input
--
\set VERBOSITY terse
SELECT osv.archive_activity_logs(NULL);
SELECT osv.archive_activity_logs('-1 day');
SELECT osv.archive_activity_logs('0');
SELECT osv.archive_activity_logs('100 years');
SELECT osv.delete_abandoned_rooms('1 day -2 hours');
SELECT osv.delete_abandoned_rooms('-1 mon 40 days');
SELECT osv.delete_abandoned_rooms(NULL);
SELECT osv.purge_trashed('-00:00:01');
SELECT osv.purge_trashed('1000 years');
SELECT osv.clean_job_runs(NULL);
SELECT osv.run_job('vacuum_everything');
SELECT osv.run_job(NULL);
SET osv.trash_retention = '-5 days';
SET osv.retention_batch_size = 0;
\set VERBOSITY default
SELECT osv.run_job('nothing');
-- bad input records nothing
SELECT count(*) AS runs FROM osv.job_runs;
-- a positive interval with mixed units is fine
SELECT osv.purge_trashed('1 mon -3 days'::interval + '5 days') AS purged;

--
-- 2. revoke_expired_recommendations: expired at expires_at <= now()
--
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'pdf', name || ' doc ' || g, 'osv-docs', name || g FROM u, generate_series(1, 5) g;
INSERT INTO osv.summaries (document_id, topic, content) SELECT id, 't', 'c' FROM osv.documents;
BEGIN;
-- expiring now, in 1 us, 1 us ago, a day ago (revoked an hour ago already), in a day
INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at, created_at, revoked_at)
SELECT (SELECT id FROM u WHERE name = 'Ret One'), s.id, 0.5, now() + e.expires, now() - interval '2 days',
	   CASE WHEN e.expires = interval '-1 day' THEN now() - interval '1 hour' END
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM osv.summaries
	  WHERE user_id = (SELECT id FROM u WHERE name = 'Ret Two')) s
JOIN (VALUES (1, interval '0'), (2, interval '1 microsecond'), (3, interval '-1 microsecond'),
			 (4, interval '-1 day'), (5, interval '1 day')) e(n, expires) ON e.n = s.n;
SELECT osv.revoke_expired_recommendations() AS revoked;
SELECT expires_at - now() AS expires_in, revoked_at = now() AS revoked_now, revoked_at < now() AS revoked_before
FROM osv.recommendations ORDER BY expires_at;
-- idempotent
SELECT osv.revoke_expired_recommendations() AS revoked_again;
COMMIT;
-- a trashed expired recommendation stays as it is (the one that expired
-- 1 us after the transaction above has expired since: it is revoked now)
BEGIN;
INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at, created_at)
SELECT (SELECT id FROM u WHERE name = 'Ret Two'), s.id, 0.25, now() - interval '1 hour', now() - interval '1 day'
FROM osv.summaries s WHERE s.user_id = (SELECT id FROM u WHERE name = 'Ret One');
UPDATE osv.recommendations SET deleted_at = now() WHERE score = 0.25;
SELECT osv.revoke_expired_recommendations() AS revoked;
SELECT score, deleted_at IS NOT NULL AS trashed, revoked_at IS NOT NULL AS revoked
FROM osv.recommendations ORDER BY score, expires_at;
ROLLBACK;

--
-- 3. delete_abandoned_rooms: idle when last_activity_at < now() - idle_for
--    and no live participation joined, left or was seen since
--
BEGIN;
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT (SELECT id FROM u WHERE name = 'Ret One'), v.name, now() - v.idle
FROM (VALUES ('exactly 30 days', interval '30 days'),
			 ('30 days and 1 us', interval '30 days 1 microsecond'),
			 ('60 days, seen yesterday', interval '60 days'),
			 ('60 days, seen 31 days ago', interval '60 days'),
			 ('60 days, left 29 days ago', interval '60 days'),
			 ('fresh', interval '1 hour'),
			 ('trashed before', interval '90 days')) v(name, idle);
INSERT INTO osv.room_participations (room_id, user_id, joined_at, left_at, last_seen_at)
SELECT r.id, u.id, now() - interval '60 days', v.left_at, v.seen
FROM osv.rooms r JOIN u ON u.name = 'Ret Two'
JOIN (VALUES ('60 days, seen yesterday', now() - interval '1 day', NULL::timestamptz),
			 ('60 days, seen 31 days ago', now() - interval '31 days', NULL),
			 ('60 days, left 29 days ago', now() - interval '59 days', now() - interval '29 days'),
			 ('30 days and 1 us', now() - interval '40 days', NULL)) v(name, seen, left_at)
  ON v.name = r.name;
UPDATE osv.rooms SET deleted_at = now() - interval '1 day' WHERE name = 'trashed before';
SELECT osv.delete_abandoned_rooms('30 days') AS trashed;
SELECT r.name, r.deleted_at = now() AS trashed_now, r.deleted_at < now() AS trashed_before,
	   count(p.id) AS participations, count(p.deleted_at) AS trashed_participations
FROM osv.rooms r LEFT JOIN osv.room_participations p ON p.room_id = r.id
GROUP BY r.id ORDER BY r.name;
SELECT osv.delete_abandoned_rooms('30 days') AS trashed_again;
-- the setting drives run_job
SET LOCAL osv.room_idle_timeout = '30 minutes';
SELECT osv.run_job('delete_abandoned_rooms') AS trashed_by_setting;
ROLLBACK;

--
-- 4. purge_trashed: rows trashed before now() - older_than are deleted,
--    children by the foreign key cascade
--
BEGIN;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'text', v.title, 'osv-docs', v.title
FROM u, (VALUES ('exactly 30 days'), ('30 days and 1 us'), ('live')) v(title) WHERE u.name = 'Ret One';
INSERT INTO osv.summaries (document_id, topic, content)
SELECT id, 't', 'c' FROM osv.documents WHERE title IN ('exactly 30 days', '30 days and 1 us', 'live');
UPDATE osv.documents SET deleted_at = now() - interval '30 days' WHERE title = 'exactly 30 days';
UPDATE osv.documents SET deleted_at = now() - interval '30 days 1 microsecond' WHERE title = '30 days and 1 us';
-- Ret Two, trashed 40 days ago, goes with all their content and logs
INSERT INTO osv.activity_logs (user_id, event_type) SELECT id, 'test.purge' FROM u;
UPDATE osv.users SET deleted_at = now() - interval '40 days' WHERE name = 'Ret Two';
SELECT osv.purge_trashed('30 days') AS purged;
SELECT d.title, d.deleted_at IS NOT NULL AS trashed, count(s.id) AS summaries
FROM osv.documents d LEFT JOIN osv.summaries s ON s.document_id = d.id
GROUP BY d.id ORDER BY d.title;
SELECT u.name, (SELECT count(*) FROM osv.users x WHERE x.id = u.id) AS users,
	   (SELECT count(*) FROM osv.activity_logs a WHERE a.user_id = u.id) AS logs,
	   (SELECT count(*) FROM osv.recommendations r WHERE r.user_id = u.id) AS recommendations
FROM u ORDER BY u.name;
SELECT osv.purge_trashed('30 days') AS purged_again;
ROLLBACK;

--
-- 5. archive_activity_logs: logs of UTC days that ended at least
--    older_than ago move to the archive; a log at the cutoff stays
--
BEGIN;
CREATE TEMP TABLE c ON COMMIT DROP AS
SELECT date_trunc('day', (now() - interval '90 days') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS cutoff;
-- daily partitions from 3 days before the cutoff's day to 1 day after
SELECT osv.create_activity_log_partitions(4, ((SELECT cutoff FROM c) AT TIME ZONE 'UTC')::date - 3) AS partitions;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at, properties)
SELECT (SELECT id FROM u WHERE name = 'Ret One'), 'test.archive', c.cutoff + v.age, jsonb_build_object('age', v.age)
FROM c, (VALUES (interval '-3 days'), ('-3 days'), ('-2 days 12:00'), ('-1 microsecond'), ('0'), ('1 hour'),
				('-10 days'), ('-10 days 1 hour'), ('-20 days'), ('-20 days'), ('-20 days'), ('200 days')) v(age);
-- the old days without a partition and the far future wait in the default partition
SELECT count(*) AS in_default FROM osv.activity_logs_default;
CREATE TEMP TABLE before ON COMMIT DROP AS SELECT * FROM osv.activity_logs;
CREATE TEMP TABLE filenode ON COMMIT DROP AS
SELECT pg_relation_filenode('osv.' || osv.activity_log_partition_name((cutoff AT TIME ZONE 'UTC')::date - 3)) AS node FROM c;
SET LOCAL osv.retention_batch_size = 2;
SELECT osv.archive_activity_logs('90 days') AS archived;
-- every log is in exactly one place; the archived ones are those before the cutoff
SELECT (SELECT count(*) FROM before) AS total,
	   (SELECT count(*) FROM osv.activity_logs) AS live,
	   (SELECT count(*) FROM osv.activity_logs_archive) AS archived,
	   (SELECT count(*) FROM (SELECT id, user_id, event_type, occurred_at, properties FROM osv.activity_logs
							  UNION ALL
							  SELECT id, user_id, event_type, occurred_at, properties FROM osv.activity_logs_archive
							  EXCEPT ALL SELECT * FROM before) x) AS unexpected,
	   (SELECT bool_and(a.occurred_at < c.cutoff) FROM osv.activity_logs_archive a, c) AS archived_before_cutoff,
	   (SELECT bool_and(l.occurred_at >= c.cutoff) FROM osv.activity_logs l, c) AS live_from_cutoff,
	   (SELECT bool_and(archived_at = now()) FROM osv.activity_logs_archive) AS archived_now;
SELECT a.occurred_at - c.cutoff AS age, a.properties FROM osv.activity_logs_archive a, c ORDER BY a.occurred_at, a.id;
-- whole partitions were attached as they were (same file, no rewrite), renamed;
-- rows of days without a partition got a daily archive partition
SELECT p.lower_bound - c.cutoff AS from_cutoff, p.upper_bound - c.cutoff AS to_cutoff,
	   p.partition::text = 'osv.activity_logs_archive_p' || to_char(p.lower_bound AT TIME ZONE 'UTC', 'YYYYMMDD') AS named_by_day,
	   pg_relation_filenode(p.partition) = (SELECT node FROM filenode) AS same_file,
	   EXISTS (SELECT FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid
			   WHERE k.conrelid = p.partition AND k.conname = r.relname || '_bounds') AS has_bounds
FROM osv.partitions_of('osv.activity_logs_archive') p, c ORDER BY p.lower_bound;
SELECT p.lower_bound - c.cutoff AS from_cutoff, p.is_default
FROM osv.partitions_of('osv.activity_logs') p, c WHERE p.lower_bound < c.cutoff + interval '2 days' OR p.is_default
ORDER BY p.lower_bound NULLS FIRST;
-- idempotent
SELECT osv.archive_activity_logs('90 days') AS archived_again;

-- a partition made by hand that straddles a cutoff: its older rows move
-- one by one, and once it is entirely old, the rest follows (part of its
-- range being archived already, it cannot be attached as a whole)
CREATE TEMP TABLE c2 ON COMMIT DROP AS
SELECT date_trunc('day', (now() - interval '60 days') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS cutoff;
SELECT format('CREATE TABLE osv.activity_logs_custom PARTITION OF osv.activity_logs FOR VALUES FROM (%L) TO (%L)',
			  cutoff - interval '12 hours', cutoff + interval '12 hours') AS ddl FROM c2 \gset
:ddl;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at, properties)
SELECT (SELECT id FROM u WHERE name = 'Ret One'), 'test.custom', c2.cutoff + v.age, jsonb_build_object('custom', v.age)
FROM c2, (VALUES (interval '-1 hour'), ('1 hour')) v(age);
SELECT osv.archive_activity_logs('60 days') AS archived_straddling;
SELECT a.occurred_at - c2.cutoff AS age FROM osv.activity_logs_archive a, c2 WHERE a.event_type = 'test.custom';
SELECT osv.archive_activity_logs('59 days') AS archived_rest;
SELECT a.occurred_at - c2.cutoff AS age FROM osv.activity_logs_archive a, c2 WHERE a.event_type = 'test.custom' ORDER BY 1;
SELECT to_regclass('osv.activity_logs_custom') AS custom_partition;
SELECT count(*) AS live_custom FROM osv.activity_logs WHERE event_type = 'test.custom';

-- deleting a user deletes their archived logs (GDPR erasure)
DELETE FROM osv.users WHERE name = 'Ret One';
SELECT count(*) AS archived_left FROM osv.activity_logs_archive;
ROLLBACK;

--
-- 5b. The same archive, a transaction per partition
--
\set VERBOSITY terse
SELECT osv.archive_activity_logs('90 days', 0);
\set VERBOSITY default
TRUNCATE osv.job_runs;
SELECT osv.create_activity_log_partitions(2, (now() AT TIME ZONE 'UTC')::date - 95) AS partitions;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT (SELECT id FROM u WHERE name = 'Ret One'), 'test.stepwise', now() - interval '95 days' + g * interval '1 day'
FROM generate_series(0, 2) g;
CALL osv.archive_activity_logs_stepwise('90 days');
SELECT job, affected, outcome FROM osv.job_runs ORDER BY id;
SELECT count(*) AS archived FROM osv.activity_logs_archive WHERE event_type = 'test.stepwise';
CALL osv.archive_activity_logs_stepwise('90 days');
\set VERBOSITY terse
CALL osv.archive_activity_logs_stepwise(NULL);
SELECT osv.archivable_partitions('90 days') AS archivable;
SELECT osv.archivable_partitions(NULL);
SELECT osv.archivable_partitions('-1 day');
SELECT * FROM osv.partitions_of('osv.users');
SELECT * FROM osv.partitions_of(NULL);
SELECT * FROM osv.partitions_of(4294967295::oid::regclass);
CREATE ROLE ret_reader;
GRANT USAGE ON SCHEMA osv TO ret_reader;
SET ROLE ret_reader;
SELECT * FROM osv.partitions_of('osv.activity_logs');
RESET ROLE;
GRANT EXECUTE ON FUNCTION osv.partitions_of(regclass, timestamptz) TO ret_reader;
SET ROLE ret_reader;
SELECT * FROM osv.partitions_of('osv.activity_logs');
RESET ROLE;
REVOKE ALL ON FUNCTION osv.partitions_of(regclass, timestamptz) FROM ret_reader;
REVOKE ALL ON SCHEMA osv FROM ret_reader;
DROP ROLE ret_reader;
CREATE TABLE ret_by_list (k timestamptz) PARTITION BY LIST (k);
SELECT * FROM osv.partitions_of('ret_by_list');
CREATE TABLE ret_by_int (k int) PARTITION BY RANGE (k);
SELECT * FROM osv.partitions_of('ret_by_int');
DROP TABLE ret_by_list, ret_by_int;
BEGIN;
CALL osv.archive_activity_logs_stepwise('90 days');
ROLLBACK;
\set VERBOSITY default

--
-- 6. Run records, failures, cleanup
--
TRUNCATE osv.job_runs;
-- a job that fails is recorded and does not stop the others
CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'rooms are read-only today'; END$$;
BEGIN;
CREATE TRIGGER refuse BEFORE UPDATE ON osv.rooms FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT id, 'idle', now() - interval '1 year' FROM u WHERE name = 'Ret One';
INSERT INTO osv.job_runs (job, started_at, finished_at, affected, outcome)
VALUES ('purge_trashed', now() - interval '31 days', now() - interval '31 days', 1, 'succeeded'),
	   ('purge_trashed', now() - interval '29 days', now() - interval '29 days', 1, 'succeeded');
SELECT * FROM osv.run_retention();
SELECT job, affected, outcome, error FROM osv.job_runs
WHERE started_at >= now() ORDER BY id;
-- the failed job changed nothing
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live_rooms FROM osv.rooms;
-- run_retention cleaned the record older than osv.job_runs_retention
SELECT count(*) AS old_records FROM osv.job_runs WHERE started_at < now();
SELECT bool_and(finished_at >= started_at) AS ordered FROM osv.job_runs;
ROLLBACK;
DROP FUNCTION pg_temp.refuse();

--
-- 7. The jobs committing per batch; the lock of an unknown job; BC days
--
\set VERBOSITY terse
SELECT osv.try_job_lock('vacuum_everything');
SELECT osv.try_job_lock(NULL);
CALL osv.run_job_batched('vacuum_everything');
CALL osv.run_job_batched('purge_trashed', '-1 day');
CALL osv.run_job_batched('delete_abandoned_rooms', '100 years');
BEGIN;
CALL osv.run_job_batched('purge_trashed');
ROLLBACK;
\set VERBOSITY default
TRUNCATE osv.job_runs;
SET osv.retention_batch_size = 2;
INSERT INTO osv.rooms (user_id, name, last_activity_at)
SELECT id, 'batched ' || g, now() - interval '40 days' FROM u, generate_series(1, 5) g WHERE name = 'Ret One';
-- five rooms in batches of two: three transactions
CALL osv.run_job_batched('delete_abandoned_rooms', '30 days');
SELECT count(*) AS trashed, count(DISTINCT xmin::text) AS transactions
FROM osv.rooms WHERE name LIKE 'batched %';
UPDATE osv.rooms SET deleted_at = now() - interval '40 days' WHERE name LIKE 'batched %';
CALL osv.run_job_batched('purge_trashed', '30 days');
CALL osv.run_job_batched('purge_trashed');
SELECT count(*) AS left_over FROM osv.rooms WHERE name LIKE 'batched %';
SELECT job, affected, outcome, error, reason FROM osv.job_runs ORDER BY id;
TRUNCATE osv.job_runs;
CALL osv.run_retention_batched();
SELECT job, outcome, reason FROM osv.job_runs ORDER BY id;
RESET osv.retention_batch_size;
-- a day BC has a partition name of its own
SELECT osv.activity_log_partition_name('0001-01-01') AS ad, osv.activity_log_partition_name('0001-01-01 BC') AS bc;
BEGIN;
SELECT osv.create_activity_log_partitions(0, '0001-01-01 BC') AS bc_created,
	   osv.create_activity_log_partitions(0, '0001-01-01') AS ad_created;
SELECT p.partition, p.lower_bound AT TIME ZONE 'UTC' AS lower_bound
FROM osv.partitions_of('osv.activity_logs', '0002-01-01') p WHERE NOT p.is_default ORDER BY 2;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'test.bc', timestamptz '0001-01-01 12:00 BC UTC' FROM u WHERE name = 'Ret One';
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at)
SELECT id, 'test.bc', timestamptz '0001-01-01 12:00 UTC' FROM u WHERE name = 'Ret One';
SELECT osv.archive_activity_logs('90 days') AS archived;
SELECT tableoid::regclass AS archive_partition, occurred_at AT TIME ZONE 'UTC' AS occurred_at
FROM osv.activity_logs_archive WHERE event_type = 'test.bc' ORDER BY occurred_at;
ROLLBACK;

-- privileges: the jobs are for superusers and those granted them
SELECT p.oid::regprocedure AS job, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_run
FROM pg_proc p WHERE p.pronamespace = 'osv'::regnamespace
  AND p.proname IN ('archive_activity_logs', 'archive_activity_logs_stepwise', 'delete_abandoned_rooms',
					'revoke_expired_recommendations', 'purge_trashed', 'clean_job_runs', 'run_job', 'run_retention',
					'run_job_batched', 'run_retention_batched')
ORDER BY 1::text;

SET client_min_messages = warning;
TRUNCATE osv.users CASCADE;
TRUNCATE osv.job_runs;
RESET client_min_messages;
