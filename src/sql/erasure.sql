
/* src/sql/erasure.sql: erasure that holds: object deletions, the erasure ledger, reapply after a restore */

/*
 * Every hard deletion of a document (an erasure, the purge of the trash,
 * a DELETE, the cascade from a user, a TRUNCATE) queues its object in
 * osv.storage_deletions, in the deleting transaction; the storage sync
 * (src/storage_sync.c) deletes it from object storage after commit.  An
 * object that another document row still names is not deleted (the sync
 * checks when it claims), which this index serves.
 */
CREATE INDEX documents_storage_object_idx ON osv.documents (storage_bucket, storage_key);

CREATE FUNCTION osv.storage_sync_wake()
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'osv_storage_sync_wake';
COMMENT ON FUNCTION osv.storage_sync_wake() IS 'wake the sync worker when the current transaction commits (it drains the storage queue)';
REVOKE ALL ON FUNCTION osv.storage_sync_wake() FROM PUBLIC;

CREATE FUNCTION osv.storage_queue_deleted_documents()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	/* Set by osv.erase_user() while it deletes the user: the rows name the erasure at once. */
	erasure uuid := NULLIF(current_setting('osv_erasure.receipt', true), '')::uuid;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
		INSERT INTO osv.storage_deletions (storage_bucket, storage_key, user_id)
		SELECT d.storage_bucket, d.storage_key, d.user_id FROM osv.documents d;
	ELSE
		INSERT INTO osv.storage_deletions (storage_bucket, storage_key, user_id, erasure_id)
		SELECT o.storage_bucket, o.storage_key, o.user_id, erasure FROM old_rows o;
	END IF;
	IF FOUND THEN
		PERFORM osv.storage_sync_wake();
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.storage_queue_deleted_documents() IS 'trigger: queue the objects of hard-deleted documents in osv.storage_deletions';
REVOKE ALL ON FUNCTION osv.storage_queue_deleted_documents() FROM PUBLIC;

CREATE TRIGGER storage_queue AFTER DELETE ON osv.documents
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.storage_queue_deleted_documents();
CREATE TRIGGER storage_queue_truncate BEFORE TRUNCATE ON osv.documents
	FOR EACH STATEMENT EXECUTE FUNCTION osv.storage_queue_deleted_documents();

CREATE FUNCTION osv.storage_sync(max_entries integer DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'osv_storage_sync';
COMMENT ON FUNCTION osv.storage_sync(integer) IS 'drain the object-storage queue (deletions, erasure ledger objects) now, in this session; returns entries completed';
REVOKE ALL ON FUNCTION osv.storage_sync(integer) FROM PUBLIC;

CREATE FUNCTION osv.storage_sync_blocked_by(target text)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_storage_sync_blocked_by';
COMMENT ON FUNCTION osv.storage_sync_blocked_by(text) IS 'the setting that keeps a storage sync target from running, NULL when it can run';

/*
 * The erasure ledger: one row per erasure, naming the person only by keyed
 * hashes (HMAC-SHA256 with a key derived from the analytics secret, which
 * pg_dump keeps), with counts and the state of each target.  A copy of each
 * row is written to the bucket osv.erasure_ledger_bucket (PutObject, by the
 * storage sync) so that it outlives the database; osv.reapply_erasures()
 * reads both after an older backup was restored.
 */
CREATE FUNCTION osv.hmac_sha256(key bytea, message text)
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_hmac_sha256';
COMMENT ON FUNCTION osv.hmac_sha256(bytea, text) IS 'HMAC-SHA256 of a message, hex';
REVOKE ALL ON FUNCTION osv.hmac_sha256(bytea, text) FROM PUBLIC;

CREATE FUNCTION osv.erasure_subject_hash(kind text, value text)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT osv.hmac_sha256(pg_catalog.sha256(pg_catalog.convert_to('osv erasure ledger', 'UTF8') OPERATOR(pg_catalog.||) s.secret),
						   kind OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) value)
	FROM osv.analytics_secret s;
END;
COMMENT ON FUNCTION osv.erasure_subject_hash(text, text) IS 'keyed hash that names a person in the erasure ledger (kind user: the user id; kind auth0: the Auth0 id)';
REVOKE ALL ON FUNCTION osv.erasure_subject_hash(text, text) FROM PUBLIC;

CREATE TABLE osv.erasure_ledger (
	receipt uuid NOT NULL,
	erased_at timestamptz NOT NULL,
	user_hash text NOT NULL,
	auth0_hash text,
	erased jsonb NOT NULL DEFAULT '{}',
	targets jsonb NOT NULL DEFAULT '{}',
	confirmed_at timestamptz,
	reapplied_at timestamptz,
	reapplied integer NOT NULL DEFAULT 0,
	object_key text NOT NULL,
	object_written_at timestamptz,
	object_attempts integer NOT NULL DEFAULT 0,
	object_next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	object_lease_until timestamptz,
	object_claim_id bigint,
	object_last_error text,
	object_last_error_at timestamptz,
	CONSTRAINT erasure_ledger_pkey PRIMARY KEY (receipt)
);
COMMENT ON TABLE osv.erasure_ledger IS 'one receipt per erasure, naming the person by keyed hashes only; copied to osv.erasure_ledger_bucket';
COMMENT ON COLUMN osv.erasure_ledger.receipt IS 'receipt number (osv.erasure_receipts.id)';
COMMENT ON COLUMN osv.erasure_ledger.erased_at IS 'when the erasure committed';
COMMENT ON COLUMN osv.erasure_ledger.user_hash IS 'osv.erasure_subject_hash(''user'', user id)';
COMMENT ON COLUMN osv.erasure_ledger.auth0_hash IS 'osv.erasure_subject_hash(''auth0'', Auth0 id)';
COMMENT ON COLUMN osv.erasure_ledger.erased IS 'how many rows of each kind were erased';
COMMENT ON COLUMN osv.erasure_ledger.targets IS 'state of each target: database, qdrant, object_storage (confirmed, pending, not configured, nothing stored)';
COMMENT ON COLUMN osv.erasure_ledger.confirmed_at IS 'when no target was pending any more; NULL while one is';
COMMENT ON COLUMN osv.erasure_ledger.reapplied_at IS 'when osv.reapply_erasures() last erased the person again';
COMMENT ON COLUMN osv.erasure_ledger.reapplied IS 'how often osv.reapply_erasures() erased the person again';
COMMENT ON COLUMN osv.erasure_ledger.object_key IS 'key of the copy in osv.erasure_ledger_bucket';
COMMENT ON COLUMN osv.erasure_ledger.object_written_at IS 'when the copy of the current state was written; NULL while due';
COMMENT ON COLUMN osv.erasure_ledger.object_attempts IS 'PutObject requests sent since the state last changed';
COMMENT ON COLUMN osv.erasure_ledger.object_next_attempt_at IS 'the copy is not written before this time (backoff)';
COMMENT ON COLUMN osv.erasure_ledger.object_lease_until IS 'claimed by a sync until this time';
COMMENT ON COLUMN osv.erasure_ledger.object_claim_id IS 'claim that holds the row; NULL when not claimed';
COMMENT ON COLUMN osv.erasure_ledger.object_last_error IS 'why the last PutObject failed';
COMMENT ON COLUMN osv.erasure_ledger.object_last_error_at IS 'when the last PutObject failed';
CREATE INDEX erasure_ledger_user_hash_idx ON osv.erasure_ledger (user_hash);
CREATE INDEX erasure_ledger_auth0_hash_idx ON osv.erasure_ledger (auth0_hash);
CREATE INDEX erasure_ledger_object_due_idx ON osv.erasure_ledger (object_next_attempt_at) WHERE object_written_at IS NULL;
CREATE INDEX erasure_ledger_unconfirmed_idx ON osv.erasure_ledger (receipt) WHERE confirmed_at IS NULL;
REVOKE ALL ON osv.erasure_ledger FROM PUBLIC;

CREATE FUNCTION osv.erasure_ledger_object_key(receipt uuid, erased_at timestamptz, user_hash text, auth0_hash text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT 'erasures/' OPERATOR(pg_catalog.||)
		   pg_catalog.to_char(erased_at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"') OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||)
		   receipt::text OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) user_hash OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||)
		   COALESCE(auth0_hash, '-') OPERATOR(pg_catalog.||) '.json';
END;
COMMENT ON FUNCTION osv.erasure_ledger_object_key(uuid, timestamptz, text, text) IS 'key of a receipt''s copy in the ledger bucket: erasures/<UTC time>_<receipt>_<user hash>_<auth0 hash>.json';

CREATE FUNCTION osv.erasure_ledger_document(l osv.erasure_ledger)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.jsonb_build_object('format', 'osv.erasure_receipt/1', 'receipt', l.receipt, 'erased_at', l.erased_at,
		'user_hash', l.user_hash, 'auth0_hash', l.auth0_hash, 'erased', l.erased, 'targets', l.targets,
		'confirmed_at', l.confirmed_at, 'reapplied_at', l.reapplied_at, 'reapplied', l.reapplied);
END;
COMMENT ON FUNCTION osv.erasure_ledger_document(osv.erasure_ledger) IS 'the copy of a ledger row written to the ledger bucket';

/*
 * Erase a user's rows and start the external deletions; the caller writes
 * the receipt.  The foreign keys cascade to every row of the user, archived
 * logs too; deleting the documents queues their objects (trigger
 * storage_queue), deleting the summaries queues the deletion of their
 * Qdrant points in the vector outbox, and deleting the user queues the
 * sweep of all the user's points by user filter (trigger
 * vector_erasure_sweep), for points the outbox does not know of (written
 * before a restore from backup, or by a write in doubt), all in this
 * transaction.  No request is sent here: the erasure never waits for
 * Qdrant or S3, and reports what is true when it returns (queued); the
 * sync confirms each target in the erasure ledger later.
 */
CREATE FUNCTION osv.erase_user(user_id bigint, receipt uuid,
							   OUT files bigint, OUT vector_points text, OUT qdrant text, OUT object_storage text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	/*
	 * The objects of the documents deleted now name the erasure as they are
	 * queued (trigger storage_queue); those queued before (a purge not yet
	 * drained) are taken in too.
	 */
	PERFORM set_config('osv_erasure.receipt', erase_user.receipt::text, true);
	DELETE FROM osv.users u WHERE u.id = erase_user.user_id;
	PERFORM set_config('osv_erasure.receipt', '', true);
	UPDATE osv.storage_deletions d SET erasure_id = erase_user.receipt
	 WHERE d.user_id = erase_user.user_id AND d.erasure_id IS NULL;
	SELECT count(*) INTO files FROM osv.storage_deletions d WHERE d.erasure_id = erase_user.receipt;
	object_storage := CASE WHEN files = 0 THEN 'nothing stored' ELSE 'pending' END;

	UPDATE osv.vector_erasure_sweeps w SET receipt = erase_user.receipt
	 WHERE w.user_id = erase_user.user_id;
	IF FOUND THEN
		vector_points := 'queued: deleted by user filter after commit';
		qdrant := 'pending';
	ELSE
		vector_points := 'embedded mode: nothing stored outside the database';
		qdrant := 'not configured';
	END IF;
END
$$;
COMMENT ON FUNCTION osv.erase_user(bigint, uuid) IS 'erase a user''s rows and queue their objects and the Qdrant sweep; the step shared by data_delete and reapply_erasures';
REVOKE ALL ON FUNCTION osv.erase_user(bigint, uuid) FROM PUBLIC;

/*
 * Bring the targets of unconfirmed receipts (or of one) up to date: object
 * storage is confirmed once no queued deletion of the erasure is left;
 * Qdrant once no sweep of the erasure is left (the sweep goes only when
 * Qdrant confirmed a delete by user filter sent after the last write in
 * doubt of the user); a receipt is confirmed once no target is pending.  A
 * changed row is due to be written to the ledger bucket again.  Returns
 * how many rows changed.
 */
CREATE FUNCTION osv.erasure_ledger_refresh(only_receipt uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	changed integer;
BEGIN
	WITH s AS (
		SELECT l.receipt,
			   l.targets
			   || CASE WHEN l.targets->>'object_storage' = 'pending'
						    AND NOT EXISTS (SELECT FROM osv.storage_deletions d WHERE d.erasure_id = l.receipt)
					   THEN '{"object_storage": "confirmed"}' ELSE '{}' END::jsonb
			   || CASE WHEN l.targets->>'qdrant' = 'pending'
						    AND NOT EXISTS (SELECT FROM osv.vector_erasure_sweeps w WHERE w.receipt = l.receipt)
					   THEN '{"qdrant": "confirmed"}' ELSE '{}' END::jsonb AS targets
		  FROM osv.erasure_ledger l
		 WHERE l.confirmed_at IS NULL AND (only_receipt IS NULL OR l.receipt = only_receipt)
		   AND l.targets <> '{}'
		 FOR UPDATE OF l SKIP LOCKED)
	UPDATE osv.erasure_ledger l
	   SET targets = s.targets,
		   confirmed_at = CASE WHEN NOT EXISTS (SELECT FROM jsonb_each_text(s.targets) t WHERE t.value = 'pending')
							   THEN now() END,
		   object_written_at = NULL, object_claim_id = NULL, object_lease_until = NULL,
		   object_attempts = 0, object_next_attempt_at = now()
	  FROM s
	 WHERE l.receipt = s.receipt
	   AND (s.targets <> l.targets OR NOT EXISTS (SELECT FROM jsonb_each_text(s.targets) t WHERE t.value = 'pending'));
	GET DIAGNOSTICS changed = ROW_COUNT;
	RETURN changed;
END
$$;
COMMENT ON FUNCTION osv.erasure_ledger_refresh(uuid) IS 'confirm the targets of unconfirmed erasure receipts whose external deletions are done';
REVOKE ALL ON FUNCTION osv.erasure_ledger_refresh(uuid) FROM PUBLIC;

CREATE FUNCTION osv.erasure_ledger_objects()
RETURNS TABLE (receipt uuid, erased_at timestamptz, user_hash text, auth0_hash text, object_key text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'osv_erasure_ledger_objects';
COMMENT ON FUNCTION osv.erasure_ledger_objects() IS 'the receipts stored in osv.erasure_ledger_bucket (ListObjectsV2)';
REVOKE ALL ON FUNCTION osv.erasure_ledger_objects() FROM PUBLIC;

/*
 * After an older backup was restored: take in the receipts of the ledger
 * bucket that the restored ledger lacks, then erase again every user that
 * a receipt names (by either hash) and that existed at the time of that
 * erasure (a person who signed up again afterwards is a new account with
 * a new consent, and stays).  Returns how many users were erased again.
 */
CREATE FUNCTION osv.reapply_erasures()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer := 0;
	r record;
	outcome record;
BEGIN
	IF osv.storage_sync_blocked_by('erasure_ledger') IS NULL THEN
		INSERT INTO osv.erasure_ledger (receipt, erased_at, user_hash, auth0_hash, targets, object_key, object_written_at, confirmed_at)
		SELECT b.receipt, b.erased_at, b.user_hash, b.auth0_hash, '{"database": "confirmed"}', b.object_key, now(), now()
		  FROM osv.erasure_ledger_objects() b
		ON CONFLICT ON CONSTRAINT erasure_ledger_pkey DO NOTHING;
	END IF;

	FOR r IN
		WITH h AS (
			SELECT u.id, u.created_at,
				   osv.erasure_subject_hash('user', u.id::text) AS user_hash,
				   osv.erasure_subject_hash('auth0', u.auth0_id) AS auth0_hash
			  FROM osv.users u)
		SELECT DISTINCT ON (h.id) h.id, l.receipt
		  FROM h JOIN osv.erasure_ledger l
			ON (l.user_hash = h.user_hash OR l.auth0_hash = h.auth0_hash) AND h.created_at <= l.erased_at
		 ORDER BY h.id, l.erased_at DESC
	LOOP
		PERFORM osv.check_user_exists(r.id, for_erasure => true);
		outcome := osv.erase_user(r.id, r.receipt);
		UPDATE osv.erasure_ledger l
		   SET targets = jsonb_build_object('database', 'confirmed', 'qdrant', outcome.qdrant, 'object_storage', outcome.object_storage),
			   confirmed_at = NULL, reapplied_at = now(), reapplied = l.reapplied + 1,
			   object_written_at = NULL, object_claim_id = NULL, object_lease_until = NULL,
			   object_attempts = 0, object_next_attempt_at = now()
		 WHERE l.receipt = r.receipt;
		PERFORM osv.erasure_ledger_refresh(r.receipt);
		n := n + 1;
	END LOOP;
	PERFORM osv.storage_sync_wake();
	RETURN n;
END
$$;
COMMENT ON FUNCTION osv.reapply_erasures() IS 'after restoring an older backup: erase again every person the erasure ledger (table or bucket) names; returns how many';
REVOKE ALL ON FUNCTION osv.reapply_erasures() FROM PUBLIC;

/*
 * The storage queues, with the mode of each target and the worker that
 * drains them all (the vector sync worker, src/health.c) at the end.
 */
CREATE VIEW osv.storage_sync_status AS
SELECT s.target, s.pending, s.failed, s.in_flight, s.oldest_pending_age, s.last_error, s.last_error_at,
	   s.next_attempt_at, s.max_attempts, s.blocked_by,
	   CASE WHEN s.target OPERATOR(pg_catalog.=) 'qdrant_sweeps' THEN
			CASE WHEN COALESCE(pg_catalog.current_setting('osv.qdrant_url', true), '') OPERATOR(pg_catalog.=) '' THEN 'embedded' ELSE 'qdrant' END
			WHEN COALESCE(pg_catalog.current_setting('osv.s3_endpoint', true), '') OPERATOR(pg_catalog.=) '' THEN 'none'
			ELSE 's3' END AS mode,
	   w.pid AS worker_pid,
	   w.state AS worker_state,
	   w.last_heartbeat
  FROM (
	SELECT 'object_storage'::text AS target,
		   pg_catalog.count(*) AS pending,
		   pg_catalog.count(*) FILTER (WHERE d.last_error IS NOT NULL) AS failed,
		   pg_catalog.count(*) FILTER (WHERE d.lease_until OPERATOR(pg_catalog.>) pg_catalog.now()) AS in_flight,
		   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(d.requested_at) AS oldest_pending_age,
		   (SELECT e.last_error FROM osv.storage_deletions e WHERE e.last_error IS NOT NULL
			 ORDER BY e.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error,
		   pg_catalog.max(d.last_attempt_at) FILTER (WHERE d.last_error IS NOT NULL) AS last_error_at,
		   pg_catalog.min(d.next_attempt_at) AS next_attempt_at,
		   pg_catalog.max(d.attempts) AS max_attempts,
		   CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN osv.storage_sync_blocked_by('object_storage') END AS blocked_by
	  FROM osv.storage_deletions d
	UNION ALL
	SELECT 'erasure_ledger',
		   pg_catalog.count(*),
		   pg_catalog.count(*) FILTER (WHERE l.object_last_error IS NOT NULL),
		   pg_catalog.count(*) FILTER (WHERE l.object_lease_until OPERATOR(pg_catalog.>) pg_catalog.now()),
		   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(l.erased_at),
		   (SELECT e.object_last_error FROM osv.erasure_ledger e WHERE e.object_written_at IS NULL AND e.object_last_error IS NOT NULL
			 ORDER BY e.object_last_error_at DESC NULLS LAST LIMIT 1),
		   pg_catalog.max(l.object_last_error_at),
		   pg_catalog.min(l.object_next_attempt_at),
		   pg_catalog.max(l.object_attempts),
		   CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN osv.storage_sync_blocked_by('erasure_ledger') END
	  FROM osv.erasure_ledger l
	 WHERE l.object_written_at IS NULL
	UNION ALL
	SELECT 'qdrant_sweeps',
		   pg_catalog.count(*),
		   pg_catalog.count(*) FILTER (WHERE q.last_error IS NOT NULL),
		   pg_catalog.count(*) FILTER (WHERE q.lease_until OPERATOR(pg_catalog.>) pg_catalog.now()),
		   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.enqueued_at),
		   (SELECT e.last_error FROM osv.vector_erasure_sweeps e WHERE e.last_error IS NOT NULL
			 ORDER BY e.last_error_at DESC NULLS LAST LIMIT 1),
		   pg_catalog.max(q.last_error_at),
		   pg_catalog.min(q.due_at),
		   pg_catalog.max(q.attempts),
		   CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN osv.storage_sync_blocked_by('qdrant_sweeps') END
	  FROM osv.vector_erasure_sweeps q
	   ) s
  LEFT JOIN osv.worker_status() w ON w.worker OPERATOR(pg_catalog.=) 'vector sync';
COMMENT ON VIEW osv.storage_sync_status IS 'state of the external deletions: queued object deletions, ledger copies to write, Qdrant sweeps to confirm (sent by the vector sync)';
COMMENT ON COLUMN osv.storage_sync_status.target IS 'object_storage (deletions), erasure_ledger (copies of receipts), qdrant_sweeps (osv.vector_erasure_sweeps: erasures Qdrant has not confirmed)';
COMMENT ON COLUMN osv.storage_sync_status.pending IS 'entries not done yet (failing ones included: none is ever parked)';
COMMENT ON COLUMN osv.storage_sync_status.failed IS 'pending entries whose last attempt failed (retried with backoff)';
COMMENT ON COLUMN osv.storage_sync_status.in_flight IS 'entries claimed by a sync being sent';
COMMENT ON COLUMN osv.storage_sync_status.oldest_pending_age IS 'age of the oldest pending entry; NULL when nothing is pending';
COMMENT ON COLUMN osv.storage_sync_status.last_error IS 'error of the latest failed attempt';
COMMENT ON COLUMN osv.storage_sync_status.last_error_at IS 'when the latest attempt failed';
COMMENT ON COLUMN osv.storage_sync_status.next_attempt_at IS 'when the next entry is due';
COMMENT ON COLUMN osv.storage_sync_status.max_attempts IS 'most attempts of one pending entry';
COMMENT ON COLUMN osv.storage_sync_status.blocked_by IS 'why nothing is sent at all (a setting that is empty), NULL when the sync can run';
COMMENT ON COLUMN osv.storage_sync_status.mode IS 's3 (osv.s3_endpoint set) or none for object_storage and erasure_ledger; qdrant or embedded for qdrant_sweeps';
COMMENT ON COLUMN osv.storage_sync_status.worker_pid IS 'pid of the worker that drains the storage queues (the vector sync worker); NULL when it does not run';
COMMENT ON COLUMN osv.storage_sync_status.worker_state IS 'state of that worker (osv.worker_status(); README "Health and progress")';
COMMENT ON COLUMN osv.storage_sync_status.last_heartbeat IS 'when that worker last showed it was alive';
