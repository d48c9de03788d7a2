
/*
 * 70_scale: the vector layer at scale (DESIGN.md section 10): the collection's
 * cluster parameters compared with the settings, searches that fall back to
 * the in-database scan (counted), the scheduled, streamed reconcile and its
 * records (src/sql/vector.sql and src/sql/scale.sql of the fresh install).
 */
ALTER TABLE osv.vector_sync_targets ADD COLUMN collection_mismatch text;
COMMENT ON COLUMN osv.vector_sync_targets.collection_mismatch IS 'how the collection''s shard number, replication factor and write consistency factor differ from osv''s settings, as the vector sync worker last found them; NULL when they match';

CREATE FUNCTION osv.search_fallback_stats(OUT search_fallbacks bigint, OUT last_search_fallback_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_search_fallback_stats';
COMMENT ON FUNCTION osv.search_fallback_stats() IS 'searches answered by the in-database scan while Qdrant could not answer, since the server started, and when the last one was';
REVOKE ALL ON FUNCTION osv.search_fallback_stats() FROM PUBLIC;

CREATE OR REPLACE VIEW osv.vector_sync_status AS
SELECT t.target,
	   CASE WHEN m.embedded THEN 0
			ELSE (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') END AS pending,
	   CASE WHEN m.embedded THEN 0
			ELSE (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'failed') END AS failed,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.claim_id IS NOT NULL) AS in_flight,
	   CASE WHEN NOT m.embedded THEN pg_catalog.now() OPERATOR(pg_catalog.-)
		   (SELECT pg_catalog.min(o.enqueued_at) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') END AS oldest_pending_age,
	   CASE WHEN NOT m.embedded THEN
		   COALESCE(t.last_error,
					(SELECT o.last_error FROM osv.vector_outbox o
					  WHERE o.state OPERATOR(pg_catalog.=) 'failed'
					  ORDER BY o.last_attempt_at DESC NULLS LAST LIMIT 1)) END AS last_error,
	   CASE WHEN NOT m.embedded THEN t.last_error_at END AS last_error_at,
	   t.last_success_at,
	   CASE WHEN NOT m.embedded THEN t.retry_at END AS retry_at,
	   CASE WHEN m.embedded THEN 0 ELSE t.consecutive_failures END AS consecutive_failures,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.in_doubt_until IS NOT NULL) AS in_doubt,
	   (SELECT pg_catalog.count(*) FROM osv.vector_erasure_sweeps w) AS erasure_sweeps,
	   CASE WHEN m.embedded THEN 'embedded' ELSE 'qdrant' END AS mode,
	   CASE WHEN m.embedded THEN (SELECT pg_catalog.count(*) FROM osv.vector_outbox o) ELSE 0 END AS inactive_pending,
	   w.pid AS worker_pid,
	   w.state AS worker_state,
	   w.last_heartbeat,
	   t.collection_mismatch,
	   (osv.search_fallback_stats()).search_fallbacks,
	   (osv.search_fallback_stats()).last_search_fallback_at
  FROM osv.vector_sync_targets t
 CROSS JOIN (SELECT COALESCE(pg_catalog.current_setting('osv.qdrant_url', true), '') OPERATOR(pg_catalog.=) '' AS embedded) m
  LEFT JOIN osv.worker_status() w ON w.worker OPERATOR(pg_catalog.=) 'vector sync';
COMMENT ON COLUMN osv.vector_sync_status.collection_mismatch IS 'how the collection''s cluster parameters differ from osv.qdrant_shard_number, osv.qdrant_replication_factor and osv.qdrant_write_consistency_factor; NULL when they match';
COMMENT ON COLUMN osv.vector_sync_status.search_fallbacks IS 'searches answered by the in-database scan while Qdrant could not answer, since the server started; NULL where osv is not preloaded';
COMMENT ON COLUMN osv.vector_sync_status.last_search_fallback_at IS 'when a search was last answered by the in-database scan instead of Qdrant';

ALTER TABLE osv.job_runs ADD COLUMN details jsonb;
COMMENT ON COLUMN osv.job_runs.details IS 'what the run found, for jobs that say more than rows affected: for vector_reconcile the pages and points read and the points enqueued (orphaned: to be deleted; stale and missing: to be upserted)';
