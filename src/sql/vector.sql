
/* src/sql/vector.sql: the vector layer's transactional outbox and sync to Qdrant (DESIGN.md section 5) */

/*
 * The outbox holds at most one row per summary: the summary needs to be
 * brought up to date in Qdrant.  It says nothing about what to send; the
 * sender derives the point's desired state from the summary row when it
 * sends (a live summary with an embedding is upserted, anything else,
 * including a summary that no longer exists, is deleted), so coalescing
 * many changes into one row is always correct.  Every change bumps
 * version; a sender records the version it claimed and deletes the row on
 * success only if the version is still the same, so a change made while a
 * batch is in flight stays pending.  summary_id 0 is the TRUNCATE marker:
 * drop the collection's content, then send every live summary again.
 *
 * Rows are written by the trigger osv.vector_enqueue() (C) in the writing
 * transaction, and claimed and recorded by osv.vector_sync() and the vector
 * sync worker (src/vector_sync.c).  In the embedded mode (osv.qdrant_url
 * empty) nothing is enqueued; osv.vector_resync() backfills once Qdrant is
 * configured, and the worker runs it by itself when it sees a new URL.
 *
 * fillfactor 35: a claim updates every row it takes (claim_id, lease), and
 * only room on the row's own page makes that a HOT update; on full pages
 * each claim added an entry to both indexes, which the next claims then
 * had to step over (measured with bench/sync_throughput.sh: a claim of 256
 * rows took 5-16 ms, growing as the outbox drained; with room, 6 ms).  The
 * claimed row is larger than the enqueued one (80 bytes, 120 once the claim
 * columns are set), so a page filled to 50% by a backfill's enqueue had
 * room for two thirds of its rows' claims: a third of them were not HOT.
 * At 35% a page holds 34 enqueued rows, and their claims (34 x 124 bytes
 * with line pointers) fit beside them.
 */
CREATE TABLE osv.vector_outbox (
	summary_id bigint NOT NULL,
	version bigint NOT NULL DEFAULT 1,
	state text NOT NULL DEFAULT 'pending',
	attempts integer NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	claim_id bigint,
	claimed_version bigint,
	lease_until timestamptz,
	last_attempt_at timestamptz,
	last_error text,
	in_doubt_until timestamptz,
	in_doubt_user_id bigint,
	claimed_user_id bigint,
	CONSTRAINT vector_outbox_pkey PRIMARY KEY (summary_id),
	CONSTRAINT vector_outbox_state_check CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'failed'])),
	CONSTRAINT vector_outbox_summary_id_check CHECK (summary_id OPERATOR(pg_catalog.>=) 0),
	CONSTRAINT vector_outbox_attempts_check CHECK (attempts OPERATOR(pg_catalog.>=) 0)
) WITH (fillfactor = 35);
COMMENT ON TABLE osv.vector_outbox IS 'summaries whose Qdrant point must be brought up to date (transactional outbox, one row per summary)';
COMMENT ON COLUMN osv.vector_outbox.summary_id IS 'summary (and Qdrant point id) to sync; 0 marks a TRUNCATE of the summaries';
COMMENT ON COLUMN osv.vector_outbox.version IS 'number of changes coalesced into the row; a sync deletes the row only if it is unchanged';
COMMENT ON COLUMN osv.vector_outbox.state IS 'pending (to be sent) or failed (parked after too many attempts; a new change makes it pending again)';
COMMENT ON COLUMN osv.vector_outbox.attempts IS 'attempts to send the current version, counted when claimed';
COMMENT ON COLUMN osv.vector_outbox.enqueued_at IS 'when the oldest change of the row was enqueued';
COMMENT ON COLUMN osv.vector_outbox.next_attempt_at IS 'earliest time of the next attempt (backoff)';
COMMENT ON COLUMN osv.vector_outbox.claim_id IS 'claim that holds the row while it is in flight (a batch, or every batch of a life of the vector sync worker); NULL otherwise';
COMMENT ON COLUMN osv.vector_outbox.claimed_version IS 'version sent by the batch in flight';
COMMENT ON COLUMN osv.vector_outbox.lease_until IS 'when a claim of a batch that never recorded its outcome expires';
COMMENT ON COLUMN osv.vector_outbox.last_attempt_at IS 'when the row was last claimed';
COMMENT ON COLUMN osv.vector_outbox.last_error IS 'error of the last failed attempt';
COMMENT ON COLUMN osv.vector_outbox.in_doubt_until IS 'a write of the row timed out or lost its connection after it was sent: Qdrant may still apply it until this time (osv.vector_sync_in_doubt_fence), so only a send claimed after it completes the row';
COMMENT ON COLUMN osv.vector_outbox.in_doubt_user_id IS 'owner of the point of the last upsert in doubt, whose erasure sweep waits for in_doubt_until';
COMMENT ON COLUMN osv.vector_outbox.claimed_user_id IS 'owner of the summary when the row was last claimed (the user of the point the claim may upsert): while the claim holds, that user''s erasure sweep is not claimed, and a released claim puts it in in_doubt_user_id';

CREATE INDEX vector_outbox_next_attempt_at_idx ON osv.vector_outbox (next_attempt_at, summary_id) WHERE state OPERATOR(pg_catalog.=) 'pending';
CREATE INDEX vector_outbox_in_doubt_idx ON osv.vector_outbox (in_doubt_user_id) WHERE in_doubt_until IS NOT NULL;

CREATE SEQUENCE osv.vector_outbox_claim_seq AS bigint;
COMMENT ON SEQUENCE osv.vector_outbox_claim_seq IS 'numbers of claimed outbox batches';

/*
 * The sync target (the configured Qdrant collection): failures that concern
 * the target as a whole rather than one entry (Qdrant unreachable, wrong API
 * key, 429, 5xx) are recorded here and hold back every entry until
 * retry_at, without counting as attempts of the entries.
 */
CREATE TABLE osv.vector_sync_targets (
	target text NOT NULL,
	retry_at timestamptz,
	consecutive_failures integer NOT NULL DEFAULT 0,
	last_error text,
	last_error_at timestamptz,
	last_success_at timestamptz,
	synced_url text,
	worker_claim_id bigint,
	collection_mismatch text,
	pool_claim_ids bigint[],
	CONSTRAINT vector_sync_targets_pkey PRIMARY KEY (target)
);
COMMENT ON TABLE osv.vector_sync_targets IS 'state of each target of the vector sync (Qdrant)';
COMMENT ON COLUMN osv.vector_sync_targets.target IS 'name of the target';
COMMENT ON COLUMN osv.vector_sync_targets.retry_at IS 'no batch is sent before this time (backoff after a failure of the whole target)';
COMMENT ON COLUMN osv.vector_sync_targets.consecutive_failures IS 'failures of the whole target since the last success';
COMMENT ON COLUMN osv.vector_sync_targets.last_error IS 'error of the last failure of the whole target; NULL after a success';
COMMENT ON COLUMN osv.vector_sync_targets.last_error_at IS 'when the last failure of the whole target happened';
COMMENT ON COLUMN osv.vector_sync_targets.last_success_at IS 'when a batch last reached the target';
COMMENT ON COLUMN osv.vector_sync_targets.synced_url IS 'osv.qdrant_url the outbox was last backfilled for (by osv.vector_resync()) and, by the worker, reconciled with';
COMMENT ON COLUMN osv.vector_sync_targets.worker_claim_id IS 'claim id of the batches of the vector sync worker''s current life (since its start or its last error): the claim its restart releases (claims of external drainers are left to their lease)';
COMMENT ON COLUMN osv.vector_sync_targets.collection_mismatch IS 'how the collection''s shard number, replication factor and write consistency factor differ from osv''s settings, as the vector sync worker last found them; NULL when they match';
COMMENT ON COLUMN osv.vector_sync_targets.pool_claim_ids IS 'claim id of the current life of each further vector sync worker (osv.vector_sync_workers), element i for worker i: the claim that worker''s restart releases; worker 0''s is worker_claim_id';
INSERT INTO osv.vector_sync_targets (target) VALUES ('qdrant');

/*
 * Erasure sweeps, the one queue of deletions by user filter: a trigger on
 * osv.users queues every deleted user (osv.data_delete() and
 * osv.reapply_erasures() then name the receipt); the sync (src/sync_engine.c,
 * run by the worker and by osv.vector_sync()) claims due rows, commits,
 * sends, and records.  A row is sent when due_at has come and no upsert of
 * that user is in doubt (an upsert in doubt moves due_at to its
 * in_doubt_until), and is deleted only after a sweep sent after due_at; a
 * late upsert that Qdrant applies after the erasure is swept once more.  The
 * ledger's Qdrant state of the receipt is confirmed when the row goes.
 */
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

CREATE FUNCTION osv.vector_enqueue()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_vector_enqueue';
COMMENT ON FUNCTION osv.vector_enqueue() IS 'trigger: enqueue summaries whose Qdrant point changes into osv.vector_outbox';

/*
 * Row triggers see every change of a summary, also those made by the
 * soft-delete cascades of documents and users (they UPDATE
 * summaries.deleted_at); the function enqueues only when the point's
 * desired state changes (visibility, embedding, user_id, topic,
 * created_at).  The WHEN clauses, a superset of those conditions, keep the
 * after-trigger queue empty for the writes that cannot matter (a summary
 * stored without an embedding, a change of its content), which costs an
 * AFTER ROW trigger most of its price.
 */
CREATE TRIGGER vector_enqueue_insert AFTER INSERT ON osv.summaries
	FOR EACH ROW WHEN ((NEW.embedding IS NOT NULL OR NEW.embedding_next IS NOT NULL) AND NEW.deleted_at IS NULL AND NOT osv.restoring())
	EXECUTE FUNCTION osv.vector_enqueue();
CREATE TRIGGER vector_enqueue_update AFTER UPDATE ON osv.summaries
	FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding
					   OR OLD.embedding_next IS DISTINCT FROM NEW.embedding_next
					   OR (OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.deleted_at IS NULL)
					   OR OLD.id IS DISTINCT FROM NEW.id
					   OR OLD.user_id IS DISTINCT FROM NEW.user_id
					   OR OLD.topic IS DISTINCT FROM NEW.topic
					   OR OLD.created_at IS DISTINCT FROM NEW.created_at)
	EXECUTE FUNCTION osv.vector_enqueue();
CREATE TRIGGER vector_enqueue_delete AFTER DELETE ON osv.summaries
	FOR EACH ROW WHEN ((OLD.embedding IS NOT NULL OR OLD.embedding_next IS NOT NULL) AND OLD.deleted_at IS NULL)
	EXECUTE FUNCTION osv.vector_enqueue();
CREATE TRIGGER vector_enqueue_truncate AFTER TRUNCATE ON osv.summaries
	FOR EACH STATEMENT EXECUTE FUNCTION osv.vector_enqueue();

CREATE FUNCTION osv.vector_sync(max_entries integer DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_sync';
COMMENT ON FUNCTION osv.vector_sync(integer) IS 'send pending outbox entries to Qdrant in this session; returns the entries completed';

CREATE FUNCTION osv.vector_resync()
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_resync';
COMMENT ON FUNCTION osv.vector_resync() IS 'enqueue every live summary that has an embedding; returns how many';

CREATE FUNCTION osv.vector_reconcile()
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_reconcile';
COMMENT ON FUNCTION osv.vector_reconcile() IS 'compare Qdrant with the summaries and enqueue every point that is orphaned, missing or stale; returns how many';

CREATE FUNCTION osv.qdrant_search(query real[], k integer, user_id bigint, topic text, exclude_summary_id bigint)
RETURNS TABLE (summary_id bigint, score real)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_qdrant_search';
COMMENT ON FUNCTION osv.qdrant_search(real[], integer, bigint, text, bigint) IS 'nearest live summaries by cosine similarity, from Qdrant; NULL filters are not applied';

CREATE FUNCTION osv.qdrant_delete_user_points(user_id bigint)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_qdrant_delete_user_points';
COMMENT ON FUNCTION osv.qdrant_delete_user_points(bigint) IS 'delete every Qdrant point of a user now (GDPR erasure); nothing in the embedded mode';

CREATE FUNCTION osv.vector_sync_claim(max_entries integer)
RETURNS TABLE (claim_id bigint, summary_id bigint, version bigint, upsert boolean)
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_sync_claim';
COMMENT ON FUNCTION osv.vector_sync_claim(integer) IS 'claim due outbox entries as osv.vector_sync() does (for external drainers and tests)';

CREATE FUNCTION osv.vector_sync_complete(claim_id bigint, summary_ids bigint[])
RETURNS bigint
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_vector_sync_complete';
COMMENT ON FUNCTION osv.vector_sync_complete(bigint, bigint[]) IS 'record that claimed entries reached Qdrant and release the rest of the claim; returns the entries completed';

REVOKE ALL ON FUNCTION osv.vector_sync_claim(integer), osv.vector_sync_complete(bigint, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION osv.vector_sync(integer), osv.vector_resync(), osv.vector_reconcile(),
	osv.qdrant_delete_user_points(bigint) FROM PUBLIC;

CREATE FUNCTION osv.search_fallback_stats(OUT search_fallbacks bigint, OUT last_search_fallback_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_search_fallback_stats';
COMMENT ON FUNCTION osv.search_fallback_stats() IS 'searches answered by the in-database scan while Qdrant could not answer, since the server started, and when the last one was';
REVOKE ALL ON FUNCTION osv.search_fallback_stats() FROM PUBLIC;

/*
 * Liveness of the workers (src/health.c): a row per static worker, also
 * when it does not run (state "not preloaded", "disabled", "not running",
 * "other database": it serves osv.database, not this one).
 */
CREATE FUNCTION osv.worker_status()
RETURNS TABLE (worker text, pid integer, database text, state text, state_since timestamptz,
			   started_at timestamptz, last_heartbeat timestamptz, heartbeat_due timestamptz)
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'osv_worker_status';
COMMENT ON FUNCTION osv.worker_status() IS 'pid, state and heartbeat of each osv background worker, from shared memory';

/*
 * In the embedded mode (osv.qdrant_url empty) nothing is queued and the
 * outbox entries left from the last Qdrant wait for a backfill that
 * supersedes them when a URL is set again: they are not pending but
 * inactive_pending, and the error and back-off of that Qdrant are not
 * shown (the worker clears them when it sees the change).
 */
CREATE VIEW osv.vector_sync_status AS
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
COMMENT ON VIEW osv.vector_sync_status IS 'state of the vector sync: pending and failed entries, age of the oldest pending change, last error';
COMMENT ON COLUMN osv.vector_sync_status.target IS 'name of the sync target';
COMMENT ON COLUMN osv.vector_sync_status.pending IS 'outbox entries waiting to be sent; 0 in embedded mode (see inactive_pending)';
COMMENT ON COLUMN osv.vector_sync_status.failed IS 'outbox entries parked after too many failed attempts; 0 in embedded mode';
COMMENT ON COLUMN osv.vector_sync_status.in_flight IS 'outbox entries claimed by a batch being sent';
COMMENT ON COLUMN osv.vector_sync_status.oldest_pending_age IS 'age of the oldest pending change; NULL when nothing is pending';
COMMENT ON COLUMN osv.vector_sync_status.last_error IS 'last failure of the target, else the error of the last parked entry; NULL in embedded mode';
COMMENT ON COLUMN osv.vector_sync_status.last_error_at IS 'when the target last failed';
COMMENT ON COLUMN osv.vector_sync_status.last_success_at IS 'when a batch last reached the target';
COMMENT ON COLUMN osv.vector_sync_status.retry_at IS 'no batch is sent before this time (backoff of the target)';
COMMENT ON COLUMN osv.vector_sync_status.consecutive_failures IS 'failures of the target since its last success';
COMMENT ON COLUMN osv.vector_sync_status.in_doubt IS 'outbox entries with a write in doubt (timed out or cut off after it was sent), sent again after osv.vector_sync_in_doubt_fence';
COMMENT ON COLUMN osv.vector_sync_status.erasure_sweeps IS 'erasure sweeps by user filter still to be repeated';
COMMENT ON COLUMN osv.vector_sync_status.mode IS 'qdrant (osv.qdrant_url set) or embedded (no URL: nothing is queued, search scans the database)';
COMMENT ON COLUMN osv.vector_sync_status.inactive_pending IS 'embedded mode: outbox entries left from the last Qdrant, superseded by the backfill when a URL is set again; 0 in qdrant mode';
COMMENT ON COLUMN osv.vector_sync_status.worker_pid IS 'pid of the vector sync worker; NULL when it does not run';
COMMENT ON COLUMN osv.vector_sync_status.worker_state IS 'state of the vector sync worker (osv.worker_status(); README "Health and progress")';
COMMENT ON COLUMN osv.vector_sync_status.last_heartbeat IS 'when the vector sync worker last showed it was alive (every turn of its loop)';
COMMENT ON COLUMN osv.vector_sync_status.collection_mismatch IS 'how the collection''s cluster parameters differ from osv.qdrant_shard_number, osv.qdrant_replication_factor and osv.qdrant_write_consistency_factor; NULL when they match';
COMMENT ON COLUMN osv.vector_sync_status.search_fallbacks IS 'searches answered by the in-database scan while Qdrant could not answer, since the server started; NULL where osv is not preloaded';
COMMENT ON COLUMN osv.vector_sync_status.last_search_fallback_at IS 'when a search was last answered by the in-database scan instead of Qdrant';
