
/* ------------------------------------------------------------------------
 * Erasure that holds: object deletions by osv (S3 DeleteObject signed with
 * SigV4), the erasure ledger and its copy in a bucket, reapply after a
 * restore (src/sql/erasure.sql, src/storage_sync.c, src/s3.c)
 * ------------------------------------------------------------------------
 */
/*
 * The two NOT NULL columns get their defaults after the rows are filled:
 * a default given with ADD COLUMN would be stored as the column's
 * "missing value" in the catalog, which a fresh install has not.
 */
ALTER TABLE osv.storage_deletions
	ADD COLUMN attempts integer,
	ADD COLUMN next_attempt_at timestamptz,
	ADD COLUMN lease_until timestamptz,
	ADD COLUMN claim_id bigint,
	ADD COLUMN last_attempt_at timestamptz,
	ADD COLUMN last_status integer,
	ADD COLUMN last_error text,
	ADD COLUMN user_id bigint,
	ADD COLUMN erasure_id uuid;
UPDATE osv.storage_deletions SET attempts = 0, next_attempt_at = requested_at;
ALTER TABLE osv.storage_deletions
	ALTER COLUMN attempts SET DEFAULT 0,
	ALTER COLUMN attempts SET NOT NULL,
	ALTER COLUMN next_attempt_at SET DEFAULT pg_catalog.now(),
	ALTER COLUMN next_attempt_at SET NOT NULL;
/* 1.0 kept confirmed rows with deleted_at set; 1.1 removes them (the key may be personal data). */
DELETE FROM osv.storage_deletions WHERE deleted_at IS NOT NULL;
DROP INDEX osv.storage_deletions_pending_idx;
CREATE INDEX storage_deletions_due_idx ON osv.storage_deletions (next_attempt_at, id);
CREATE INDEX storage_deletions_user_idx ON osv.storage_deletions (user_id) WHERE erasure_id IS NULL;
CREATE INDEX storage_deletions_erasure_idx ON osv.storage_deletions (erasure_id) WHERE erasure_id IS NOT NULL;
COMMENT ON TABLE osv.storage_deletions IS 'objects of hard-deleted documents to delete from object storage (a queue drained by the storage sync)';
COMMENT ON COLUMN osv.storage_deletions.id IS 'surrogate key';
COMMENT ON COLUMN osv.storage_deletions.storage_bucket IS 'bucket of the file';
COMMENT ON COLUMN osv.storage_deletions.storage_key IS 'object key of the file';
COMMENT ON COLUMN osv.storage_deletions.requested_at IS 'when the deletion was queued';
COMMENT ON COLUMN osv.storage_deletions.deleted_at IS 'unused since 1.1 (kept from 1.0): a confirmed deletion removes its row';
COMMENT ON COLUMN osv.storage_deletions.attempts IS 'DeleteObject requests sent so far (counted when claimed)';
COMMENT ON COLUMN osv.storage_deletions.next_attempt_at IS 'not sent before this time (backoff after a failure)';
COMMENT ON COLUMN osv.storage_deletions.lease_until IS 'claimed by a sync until this time; NULL when not claimed';
COMMENT ON COLUMN osv.storage_deletions.claim_id IS 'claim that holds the row; NULL when not claimed';
COMMENT ON COLUMN osv.storage_deletions.last_attempt_at IS 'when the last request was sent';
COMMENT ON COLUMN osv.storage_deletions.last_status IS 'HTTP status of the last failed request; NULL when no answer came';
COMMENT ON COLUMN osv.storage_deletions.last_error IS 'why the last request failed; NULL before any failure';
COMMENT ON COLUMN osv.storage_deletions.user_id IS 'owner of the deleted document (no foreign key: the user may be gone)';
COMMENT ON COLUMN osv.storage_deletions.erasure_id IS 'receipt of the erasure that queued it (osv.erasure_ledger), if any';

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
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
		INSERT INTO osv.storage_deletions (storage_bucket, storage_key, user_id)
		SELECT d.storage_bucket, d.storage_key, d.user_id FROM osv.documents d;
	ELSE
		INSERT INTO osv.storage_deletions (storage_bucket, storage_key, user_id)
		SELECT o.storage_bucket, o.storage_key, o.user_id FROM old_rows o;
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
COMMENT ON FUNCTION osv.storage_sync(integer) IS 'drain the object-storage queue (deletions, erasure ledger objects, pending Qdrant sweeps) now, in this session; returns entries completed';
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

/*
 * Erasures whose Qdrant sweep (delete by user filter) did not get an
 * answer: the storage sync sweeps again until Qdrant confirms, then the
 * row goes.  It holds the erased user id (a number, no other data) only
 * that long.
 */
CREATE TABLE osv.erasure_followups (
	receipt uuid NOT NULL,
	user_id bigint NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	lease_until timestamptz,
	claim_id bigint,
	last_error text,
	last_error_at timestamptz,
	CONSTRAINT erasure_followups_pkey PRIMARY KEY (receipt),
	CONSTRAINT erasure_followups_receipt_fkey FOREIGN KEY (receipt) REFERENCES osv.erasure_ledger (receipt) ON DELETE CASCADE
);
COMMENT ON TABLE osv.erasure_followups IS 'erasures whose Qdrant sweep is not confirmed yet; removed once Qdrant confirms';
COMMENT ON COLUMN osv.erasure_followups.receipt IS 'receipt of the erasure (osv.erasure_ledger)';
COMMENT ON COLUMN osv.erasure_followups.user_id IS 'the erased user id, whose points Qdrant must delete';
COMMENT ON COLUMN osv.erasure_followups.attempts IS 'sweeps sent so far';
COMMENT ON COLUMN osv.erasure_followups.next_attempt_at IS 'not sent before this time (backoff)';
COMMENT ON COLUMN osv.erasure_followups.lease_until IS 'claimed by a sync until this time';
COMMENT ON COLUMN osv.erasure_followups.claim_id IS 'claim that holds the row; NULL when not claimed';
COMMENT ON COLUMN osv.erasure_followups.last_error IS 'why the last sweep failed';
COMMENT ON COLUMN osv.erasure_followups.last_error_at IS 'when the last sweep failed';
CREATE INDEX erasure_followups_due_idx ON osv.erasure_followups (next_attempt_at);
REVOKE ALL ON osv.erasure_followups FROM PUBLIC;

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
 * storage_queue), and deleting the summaries queues the deletion of their
 * Qdrant points in the vector outbox, in this transaction.  Qdrant is also
 * swept by the user filter now, for points the outbox does not know of
 * (written before a restore from backup, say).  A Qdrant that cannot be
 * reached must not block an erasure: the sweep is then left to the storage
 * sync (osv.erasure_followups), bounded by osv.qdrant_timeout here.
 */
CREATE FUNCTION osv.erase_user(user_id bigint, receipt uuid,
							   OUT files bigint, OUT vector_points text, OUT qdrant text, OUT object_storage text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sweep_error text;
BEGIN
	DELETE FROM osv.users u WHERE u.id = erase_user.user_id;
	UPDATE osv.storage_deletions d SET erasure_id = erase_user.receipt
	 WHERE d.user_id = erase_user.user_id AND d.erasure_id IS NULL;
	GET DIAGNOSTICS files = ROW_COUNT;
	object_storage := CASE WHEN files = 0 THEN 'nothing stored' ELSE 'pending' END;

	BEGIN
		PERFORM osv.qdrant_delete_user_points(user_id);
		IF current_setting('osv.qdrant_url') = '' THEN
			vector_points := 'embedded mode: nothing stored outside the database';
			qdrant := 'not configured';
		ELSE
			vector_points := 'deleted by user filter';
			qdrant := 'confirmed';
		END IF;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS sweep_error = MESSAGE_TEXT;
		RAISE WARNING 'could not sweep Qdrant points of the erased user: %', sweep_error
			USING HINT = 'The storage sync sweeps again until Qdrant answers; the vector outbox deletes the points of the user''s summaries too.';
		vector_points := 'queued in the vector outbox (Qdrant did not answer)';
		qdrant := 'pending';
	END;
END
$$;
COMMENT ON FUNCTION osv.erase_user(bigint, uuid) IS 'erase a user''s rows, queue their objects and sweep Qdrant; the step shared by data_delete and reapply_erasures';
REVOKE ALL ON FUNCTION osv.erase_user(bigint, uuid) FROM PUBLIC;

/*
 * Bring the targets of unconfirmed receipts (or of one) up to date: object
 * storage is confirmed once no queued deletion of the erasure is left; a
 * receipt is confirmed once no target is pending.  A changed row is due to
 * be written to the ledger bucket again.  Returns how many rows changed.
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
			   CASE WHEN l.targets->>'object_storage' = 'pending'
						 AND NOT EXISTS (SELECT FROM osv.storage_deletions d WHERE d.erasure_id = l.receipt)
					THEN jsonb_set(l.targets, '{object_storage}', '"confirmed"') ELSE l.targets END AS targets
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
		IF outcome.qdrant = 'pending' THEN
			INSERT INTO osv.erasure_followups AS f (receipt, user_id) VALUES (r.receipt, r.id)
			ON CONFLICT ON CONSTRAINT erasure_followups_pkey DO UPDATE SET user_id = EXCLUDED.user_id, next_attempt_at = now();
		END IF;
		PERFORM osv.erasure_ledger_refresh(r.receipt);
		n := n + 1;
	END LOOP;
	PERFORM osv.storage_sync_wake();
	RETURN n;
END
$$;
COMMENT ON FUNCTION osv.reapply_erasures() IS 'after restoring an older backup: erase again every person the erasure ledger (table or bucket) names; returns how many';
REVOKE ALL ON FUNCTION osv.reapply_erasures() FROM PUBLIC;

/* osv.storage_sync_status: see 65_health.sql. */

CREATE OR REPLACE FUNCTION osv.data_delete(user_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	erased jsonb;
	receipt osv.erasure_receipts;
	outcome record;
	user_hash text;
	auth0_hash text;
BEGIN
	PERFORM osv.check_user_exists(user_id, for_erasure => true);

	SELECT jsonb_build_object(
		'users', 1,
		'documents', (SELECT count(*) FROM osv.documents d WHERE d.user_id = data_delete.user_id),
		'summaries', (SELECT count(*) FROM osv.summaries s WHERE s.user_id = data_delete.user_id),
		'recommendations', (SELECT count(*) FROM osv.recommendations r WHERE r.user_id = data_delete.user_id),
		'quizzes', (SELECT count(*) FROM osv.quizzes q WHERE q.user_id = data_delete.user_id),
		'answers', (SELECT count(*) FROM osv.answers a WHERE a.user_id = data_delete.user_id),
		'rooms', (SELECT count(*) FROM osv.rooms r WHERE r.user_id = data_delete.user_id),
		'room_participations', (SELECT count(*) FROM osv.room_participations p WHERE p.user_id = data_delete.user_id),
		'activity_logs', (SELECT count(*) FROM osv.activity_logs l WHERE l.user_id = data_delete.user_id),
		'awards', (SELECT count(*) FROM osv.awards a WHERE a.user_id = data_delete.user_id),
		'points', (SELECT count(*) FROM osv.points p WHERE p.user_id = data_delete.user_id))
	INTO erased;

	/* The ledger names the person by keyed hashes only (osv.erasure_subject_hash). */
	SELECT osv.erasure_subject_hash('user', u.id::text), osv.erasure_subject_hash('auth0', u.auth0_id)
	INTO user_hash, auth0_hash
	FROM osv.users u WHERE u.id = data_delete.user_id;

	receipt.id := gen_random_uuid();
	outcome := osv.erase_user(user_id, receipt.id);

	INSERT INTO osv.erasure_receipts (id, erased)
	VALUES (receipt.id, erased || jsonb_build_object('stored_files_queued', outcome.files, 'vector_points', outcome.vector_points))
	RETURNING * INTO receipt;
	INSERT INTO osv.erasure_ledger (receipt, erased_at, user_hash, auth0_hash, erased, targets, object_key)
	VALUES (receipt.id, receipt.erased_at, user_hash, auth0_hash, erased,
			jsonb_build_object('database', 'confirmed', 'qdrant', outcome.qdrant, 'object_storage', outcome.object_storage),
			osv.erasure_ledger_object_key(receipt.id, receipt.erased_at, user_hash, auth0_hash));
	IF outcome.qdrant = 'pending' THEN
		INSERT INTO osv.erasure_followups (receipt, user_id) VALUES (receipt.id, user_id);
	END IF;
	PERFORM osv.erasure_ledger_refresh(receipt.id);
	PERFORM osv.storage_sync_wake();
	RETURN jsonb_build_object('receipt', receipt.id, 'erased_at', receipt.erased_at) || receipt.erased;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('osv.erasure_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('osv.erasure_followups', '');
