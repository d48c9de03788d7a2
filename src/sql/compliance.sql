
/* src/sql/compliance.sql: GDPR duties (export, erasure) and tokenized analytics */

/*
 * Analytics see users only through a token: a SHA-256 of the user id keyed
 * with a secret drawn at install time.  The token is stable (the same user
 * always has the same token, also across pg_dump and restore, since the
 * secret is configuration) and cannot be turned back into a user id without
 * the secret, which only superusers can read.
 */
CREATE TABLE osv.analytics_secret (
	secret bytea NOT NULL,
	singleton boolean NOT NULL DEFAULT true,
	CONSTRAINT analytics_secret_pkey PRIMARY KEY (singleton),
	CONSTRAINT analytics_secret_singleton_check CHECK (singleton),
	CONSTRAINT analytics_secret_secret_check CHECK (pg_catalog.length(secret) OPERATOR(pg_catalog.>=) 32)
);
COMMENT ON TABLE osv.analytics_secret IS 'secret key of the analytics tokens (one row); readable by superusers only';
COMMENT ON COLUMN osv.analytics_secret.secret IS 'random key mixed into every analytics token';
COMMENT ON COLUMN osv.analytics_secret.singleton IS 'always true: the table holds one row';
INSERT INTO osv.analytics_secret (secret)
SELECT pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex');
SELECT pg_catalog.pg_extension_config_dump('osv.analytics_secret', '');
REVOKE ALL ON osv.analytics_secret FROM PUBLIC;

/*
 * A restore brings the secret of the dumped database: it replaces the one
 * that CREATE EXTENSION drew, so that every token stays what it was.
 */
CREATE FUNCTION osv.analytics_secret_replace()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM osv.analytics_secret;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.analytics_secret_replace() IS 'trigger: a restored analytics secret replaces the one drawn by CREATE EXTENSION';
REVOKE ALL ON FUNCTION osv.analytics_secret_replace() FROM PUBLIC;

CREATE TRIGGER replace_on_restore BEFORE INSERT ON osv.analytics_secret
	FOR EACH ROW WHEN (osv.restoring()) EXECUTE FUNCTION osv.analytics_secret_replace();

CREATE FUNCTION osv.analytics_token(user_id bigint)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT pg_catalog.encode(pg_catalog.sha256(s.secret OPERATOR(pg_catalog.||)
				pg_catalog.convert_to(user_id::text, 'UTF8')), 'hex')
	FROM osv.analytics_secret s;
END;
COMMENT ON FUNCTION osv.analytics_token(bigint) IS 'stable pseudonymous token of a user for analytics';
REVOKE ALL ON FUNCTION osv.analytics_token(bigint) FROM PUBLIC;

CREATE VIEW osv.analytics_events AS
SELECT osv.analytics_token(l.user_id) AS user_token,
	   l.event_type,
	   l.occurred_at,
	   l.properties
FROM osv.activity_logs l
JOIN osv.users u ON u.id OPERATOR(pg_catalog.=) l.user_id
WHERE u.deleted_at IS NULL;
COMMENT ON VIEW osv.analytics_events IS 'activity for analysts, keyed by a per-user token instead of user id or e-mail; trashed users excluded';
COMMENT ON COLUMN osv.analytics_events.user_token IS 'pseudonymous token of the user (osv.analytics_token)';
COMMENT ON COLUMN osv.analytics_events.event_type IS 'kind of event';
COMMENT ON COLUMN osv.analytics_events.occurred_at IS 'when the event happened';
COMMENT ON COLUMN osv.analytics_events.properties IS 'details of the event as the app logged them';

/*
 * Objects of hard-deleted documents wait here until osv's storage sync has
 * deleted them from object storage (src/storage_sync.c): the database
 * cannot reach object storage inside a transaction, so the deleting
 * transaction queues (trigger storage_queue on osv.documents) and the sync
 * deletes after commit.  A row is removed once S3 confirms (204 or 404):
 * its key may itself be personal data.  The queue columns (attempts,
 * next_attempt_at, lease_until, claim_id, last_*) follow the outbox
 * discipline of osv.vector_outbox: claim, commit, call, record.
 */
CREATE TABLE osv.storage_deletions (
	id bigint GENERATED ALWAYS AS IDENTITY,
	storage_bucket text NOT NULL,
	storage_key text NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	lease_until timestamptz,
	claim_id bigint,
	last_attempt_at timestamptz,
	last_status integer,
	last_error text,
	user_id bigint,
	erasure_id uuid,
	CONSTRAINT storage_deletions_pkey PRIMARY KEY (id)
);
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
CREATE INDEX storage_deletions_due_idx ON osv.storage_deletions (next_attempt_at, id);
CREATE INDEX storage_deletions_user_idx ON osv.storage_deletions (user_id) WHERE erasure_id IS NULL;
CREATE INDEX storage_deletions_erasure_idx ON osv.storage_deletions (erasure_id) WHERE erasure_id IS NOT NULL;

CREATE TABLE osv.erasure_receipts (
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	erased_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	erased jsonb NOT NULL,
	CONSTRAINT erasure_receipts_pkey PRIMARY KEY (id)
);
COMMENT ON TABLE osv.erasure_receipts IS 'proof of each GDPR erasure, holding no personal data';
COMMENT ON COLUMN osv.erasure_receipts.id IS 'receipt number, returned to the caller';
COMMENT ON COLUMN osv.erasure_receipts.erased_at IS 'when the erasure committed';
COMMENT ON COLUMN osv.erasure_receipts.erased IS 'how many rows of each kind were erased';

/* The rows of one table that belong to a user, as a JSON array ordered by id. */
CREATE FUNCTION osv.user_rows_json(tbl regclass, owner_column text, user_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rows jsonb;
BEGIN
	EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t) - ''trash_batch'' ORDER BY t.id), ''[]'') FROM %s t WHERE t.%I = $1',
				   tbl, owner_column)
		INTO rows USING user_id;
	RETURN rows;
END
$$;
COMMENT ON FUNCTION osv.user_rows_json(regclass, text, bigint) IS 'rows of a table owned by a user, as a JSON array';

/*
 * Raise the error of an unknown user (trashed users count: their data is
 * exported and erased too).  Locks the user row FOR KEY SHARE, or FOR
 * UPDATE for an erasure, so that no new content can be added under the
 * user while the erasure counts and deletes.  A read-only transaction (a
 * hot standby, or a caller's choice) cannot lock rows: there an export
 * only checks the user exists, and an erasure gets PostgreSQL's read-only
 * error from FOR UPDATE.
 */
CREATE FUNCTION osv.check_user_exists(user_id bigint, for_erasure boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF for_erasure THEN
		PERFORM FROM osv.users u WHERE u.id = user_id FOR UPDATE;
	ELSIF current_setting('transaction_read_only')::boolean THEN
		PERFORM FROM osv.users u WHERE u.id = user_id;
	ELSE
		PERFORM FROM osv.users u WHERE u.id = user_id FOR KEY SHARE;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'no_data_found';
	END IF;
END
$$;
COMMENT ON FUNCTION osv.check_user_exists(bigint, boolean) IS 'raise an error unless the user exists, trashed or not; lock the user row';

/*
 * Written in C (src/export_json.c): the user's rows of each table, read
 * with the caller's rights and snapshot (privileges and row-level security
 * apply), are written straight into jsonb's binary format, byte for byte
 * what to_jsonb() of them gives (sql/export.sql), several times cheaper
 * (bench/erasure.sh).  Calls osv.check_user_exists(user_id) first.
 */
CREATE FUNCTION osv.data_export(user_id bigint)
RETURNS jsonb
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'osv_data_export';
COMMENT ON FUNCTION osv.data_export(bigint) IS 'everything held about a user, trashed rows included (GDPR art. 15 and 20)';

CREATE FUNCTION osv.data_delete(user_id bigint)
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
	VALUES (receipt.id, erased || jsonb_build_object('stored_files_queued', outcome.files, 'vector_points', outcome.vector_points,
													  'targets', jsonb_build_object('database', 'confirmed', 'qdrant', outcome.qdrant,
																					'object_storage', outcome.object_storage)))
	RETURNING * INTO receipt;
	INSERT INTO osv.erasure_ledger (receipt, erased_at, user_hash, auth0_hash, erased, targets, object_key)
	VALUES (receipt.id, receipt.erased_at, user_hash, auth0_hash, erased,
			jsonb_build_object('database', 'confirmed', 'qdrant', outcome.qdrant, 'object_storage', outcome.object_storage),
			osv.erasure_ledger_object_key(receipt.id, receipt.erased_at, user_hash, auth0_hash));
	PERFORM osv.erasure_ledger_refresh(receipt.id);
	PERFORM osv.storage_sync_wake();
	RETURN jsonb_build_object('receipt', receipt.id, 'erased_at', receipt.erased_at) || receipt.erased;
END
$$;
COMMENT ON FUNCTION osv.data_delete(bigint) IS 'erase a user everywhere (rows, vectors, stored files); returns a receipt without personal data';
