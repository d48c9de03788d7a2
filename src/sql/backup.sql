
/* src/sql/backup.sql: what a logical backup (pg_dump) keeps */

/*
 * Every table of osv is a member of the extension, and pg_dump writes only
 * `CREATE EXTENSION osv` for members, not their rows, unless a table (or
 * sequence) is marked with pg_extension_config_dump().  osv holds the
 * platform's data, so every table that holds data is marked, and so is
 * every sequence, so that identities continue where they were.  Derived
 * state (outbox entries, point totals, awards, trash batches) is data too:
 * it is dumped as it is, and the triggers that would derive it again skip
 * the restore (osv.restoring(), src/restore.c).
 *
 * Not marked:
 *  - osv.soft_delete_tables: the extension's own description of its
 *    ownership tree, written by this script; CREATE EXTENSION writes it
 *    again.
 *  - osv.vector_sync_targets: the state of the link to a Qdrant (back-off,
 *    last error, the URL last backfilled).  A restored database starts
 *    with none, so that the sync worker brings whatever Qdrant it is
 *    pointed at up to date with the restored rows.
 *  - osv.analytics_secret is marked where it is created (compliance.sql);
 *    a restored secret replaces the one CREATE EXTENSION drew.
 *
 * Activity-log partitions: osv.activity_logs and osv.activity_logs_archive
 * are members; their default partition is a member too and marked here.
 * The daily partitions are not members: they are made at run time
 * (osv.create_activity_log_partitions(), the archive), so pg_dump dumps
 * them like any table, definition and rows, and a restore made on any
 * later day gets them back.  That is why the keys, indexes and foreign key
 * of the logs live on each partition rather than on the partitioned
 * tables (activity.sql).
 */
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
SELECT pg_catalog.pg_extension_config_dump('osv.erasure_ledger', '');
