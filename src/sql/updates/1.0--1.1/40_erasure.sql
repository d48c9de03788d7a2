
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

CREATE FUNCTION osv.erasure_ledger_objects()
RETURNS TABLE (receipt uuid, erased_at timestamptz, user_hash text, auth0_hash text, object_key text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'osv_erasure_ledger_objects';
COMMENT ON FUNCTION osv.erasure_ledger_objects() IS 'the receipts stored in osv.erasure_ledger_bucket (ListObjectsV2)';
REVOKE ALL ON FUNCTION osv.erasure_ledger_objects() FROM PUBLIC;

/* osv.storage_sync_status: see 65_health.sql. */

SELECT pg_catalog.pg_extension_config_dump('osv.erasure_ledger', '');
