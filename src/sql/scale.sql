
/* src/sql/scale.sql: the vector layer at scale (DESIGN.md section 10) */

/*
 * The scheduler worker reconciles Qdrant with the summaries every
 * osv.reconcile_interval (src/reconcile.c) and records each run in
 * osv.job_runs as job vector_reconcile; what a run found goes in details.
 */
ALTER TABLE osv.job_runs ADD COLUMN details jsonb;
COMMENT ON COLUMN osv.job_runs.details IS 'what the run found, for jobs that say more than rows affected: for vector_reconcile the pages and points read and the points enqueued (orphaned: to be deleted; stale and missing: to be upserted)';
