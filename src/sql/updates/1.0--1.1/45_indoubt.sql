
/* ------------------------------------------------------------------------
 * Erasure that holds in Qdrant (src/sql/vector.sql, src/sync_engine.c):
 * writes in doubt, repeated erasure sweeps, the worker's own claims
 * ------------------------------------------------------------------------
 */
ALTER TABLE osv.vector_outbox ADD COLUMN in_doubt_until timestamptz;
ALTER TABLE osv.vector_outbox ADD COLUMN in_doubt_user_id bigint;
COMMENT ON COLUMN osv.vector_outbox.in_doubt_until IS 'a write of the row timed out or lost its connection after it was sent: Qdrant may still apply it until this time (osv.vector_sync_in_doubt_fence), so only a send claimed after it completes the row';
COMMENT ON COLUMN osv.vector_outbox.in_doubt_user_id IS 'owner of the point of the last upsert in doubt, whose erasure sweep waits for in_doubt_until';
CREATE INDEX vector_outbox_in_doubt_idx ON osv.vector_outbox (in_doubt_user_id) WHERE in_doubt_until IS NOT NULL;

ALTER TABLE osv.vector_sync_targets ADD COLUMN worker_claim_id bigint;
COMMENT ON COLUMN osv.vector_sync_targets.synced_url IS 'osv.qdrant_url the outbox was last backfilled for (by osv.vector_resync()) and, by the worker, reconciled with';
COMMENT ON COLUMN osv.vector_sync_targets.worker_claim_id IS 'last batch claimed by the vector sync worker: the claim its restart releases (claims of external drainers are left to their lease)';

CREATE TABLE osv.vector_erasure_sweeps (
	user_id bigint NOT NULL,
	due_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	enqueued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	attempts integer NOT NULL DEFAULT 0,
	last_error text,
	receipt uuid,
	claim_id bigint,
	lease_until timestamptz,
	last_error_at timestamptz,
	CONSTRAINT vector_erasure_sweeps_pkey PRIMARY KEY (user_id)
);
COMMENT ON TABLE osv.vector_erasure_sweeps IS 'deletions of an erased user''s Qdrant points by user filter, repeated after every write of that user in doubt; the erasure ledger''s Qdrant state is confirmed when the row goes';
COMMENT ON COLUMN osv.vector_erasure_sweeps.user_id IS 'id of the erased user (the row no longer exists)';
COMMENT ON COLUMN osv.vector_erasure_sweeps.due_at IS 'the sweep is sent again after this time; a sweep sent before it does not complete the row';
COMMENT ON COLUMN osv.vector_erasure_sweeps.enqueued_at IS 'when the erasure queued the sweep';
COMMENT ON COLUMN osv.vector_erasure_sweeps.attempts IS 'sweeps sent that did not complete the row';
COMMENT ON COLUMN osv.vector_erasure_sweeps.last_error IS 'error of the last failed sweep';
COMMENT ON COLUMN osv.vector_erasure_sweeps.receipt IS 'receipt of the erasure (osv.erasure_ledger) whose Qdrant state the sweep confirms; NULL for a purge';
COMMENT ON COLUMN osv.vector_erasure_sweeps.claim_id IS 'claim that holds the row; NULL when not claimed';
COMMENT ON COLUMN osv.vector_erasure_sweeps.lease_until IS 'claimed by a sync until this time';
COMMENT ON COLUMN osv.vector_erasure_sweeps.last_error_at IS 'when the last sweep failed';
SELECT pg_catalog.pg_extension_config_dump('osv.vector_erasure_sweeps', '');

CREATE FUNCTION osv.vector_erasure_sweep_enqueue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.current_setting('osv.qdrant_url', true) IS DISTINCT FROM '' THEN
		INSERT INTO osv.vector_erasure_sweeps AS w (user_id)
		SELECT o.id FROM old_rows o
		ON CONFLICT (user_id) DO UPDATE SET due_at = pg_catalog.now(), enqueued_at = pg_catalog.now();
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.vector_erasure_sweep_enqueue() IS 'trigger: queue a sweep of the Qdrant points of every deleted user (erasure, purge)';
REVOKE ALL ON FUNCTION osv.vector_erasure_sweep_enqueue() FROM PUBLIC;
CREATE TRIGGER vector_erasure_sweep AFTER DELETE ON osv.users
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.vector_erasure_sweep_enqueue();

CREATE OR REPLACE VIEW osv.vector_sync_status AS
SELECT t.target,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') AS pending,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'failed') AS failed,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.claim_id IS NOT NULL) AS in_flight,
	   pg_catalog.now() OPERATOR(pg_catalog.-)
		   (SELECT pg_catalog.min(o.enqueued_at) FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending') AS oldest_pending_age,
	   COALESCE(t.last_error,
				(SELECT o.last_error FROM osv.vector_outbox o
				  WHERE o.state OPERATOR(pg_catalog.=) 'failed'
				  ORDER BY o.last_attempt_at DESC NULLS LAST LIMIT 1)) AS last_error,
	   t.last_error_at,
	   t.last_success_at,
	   t.retry_at,
	   t.consecutive_failures,
	   (SELECT pg_catalog.count(*) FROM osv.vector_outbox o WHERE o.in_doubt_until IS NOT NULL) AS in_doubt,
	   (SELECT pg_catalog.count(*) FROM osv.vector_erasure_sweeps w) AS erasure_sweeps
  FROM osv.vector_sync_targets t;
COMMENT ON COLUMN osv.vector_sync_status.in_doubt IS 'outbox entries with a write in doubt (timed out or cut off after it was sent), sent again after osv.vector_sync_in_doubt_fence';
COMMENT ON COLUMN osv.vector_sync_status.erasure_sweeps IS 'erasure sweeps by user filter still to be repeated';
