
/* ------------------------------------------------------------------------
 * Erasure, finished (src/sql/erasure.sql, src/sql/vector.sql,
 * src/sql/compliance.sql, src/sql/gamification.sql, src/sync_engine.c):
 * one queue of Qdrant sweeps, osv.vector_erasure_sweeps, claimed, sent and
 * recorded by the vector sync, which confirms the erasure ledger's Qdrant
 * state.  Erasures send no request any more: their receipt says what is
 * queued.  The queued objects of an erasure name it as they are queued;
 * the export is one statement; the points ledger refuses deletes once per
 * statement.
 * ------------------------------------------------------------------------
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

/* osv.storage_sync_status (its qdrant_sweeps row now reads osv.vector_erasure_sweeps) is created by 65_health. */

/* The export in one statement and one conversion to jsonb (bench/erasure.sh). */
CREATE OR REPLACE FUNCTION osv.data_export(user_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tables text;
	export jsonb;
BEGIN
	PERFORM osv.check_user_exists(user_id);

	/*
	 * One statement and one conversion: to_jsonb() of a row whose columns
	 * are arrays of the user's rows walks everything once, where a jsonb per
	 * row, aggregated per table and merged again, copied it all three times
	 * (bench/erasure.sh).  Every column but trash_batch, listed from the
	 * catalog, so that columns added later are exported too; each table is
	 * read through its index on user_id.
	 */
	SELECT string_agg(CASE WHEN k.rel IS NULL THEN format('''{}''::integer[] AS %I', k.key)
						   ELSE format('ARRAY(SELECT s FROM (SELECT %s FROM %s t WHERE t.user_id OPERATOR(pg_catalog.=) $1) s ORDER BY s.id) AS %I',
									   (SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY a.attnum)
										  FROM pg_attribute a
										 WHERE a.attrelid = k.rel AND a.attnum > 0 AND NOT a.attisdropped
										   AND a.attname <> 'trash_batch'),
									   k.rel, k.key) END,
					  ', ' ORDER BY k.ord)
	INTO tables
	FROM (VALUES (1, 'documents', 'osv.documents'),
				 (2, 'summaries', 'osv.summaries'),
				 (3, 'recommendations', 'osv.recommendations'),
				 (4, 'quizzes', 'osv.quizzes'),
				 (5, 'answers', 'osv.answers'),
				 (6, 'rooms', 'osv.rooms'),
				 (7, 'room_participations', 'osv.room_participations'),
				 (8, 'activity_logs', 'osv.activity_logs'),
				 (9, 'archived_activity_logs', 'osv.activity_logs_archive'),
				 (10, 'points', 'osv.points')) AS v(ord, key, name),
		 LATERAL (SELECT to_regclass(v.name) AS rel, v.ord, v.key) k;

	EXECUTE format($q$
		SELECT pg_catalog.to_jsonb(r) FROM (
			SELECT 'osv.data_export/1' AS format, pg_catalog.now() AS exported_at,
				   (SELECT pg_catalog.to_jsonb(u) OPERATOR(pg_catalog.-) 'trash_batch'
					  FROM osv.users u WHERE u.id OPERATOR(pg_catalog.=) $1) AS "user",
				   %s,
				   (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
							   'badge', b.slug, 'name', b.name, 'awarded_at', a.awarded_at) ORDER BY a.awarded_at, b.slug), '[]')
					  FROM osv.awards a JOIN osv.badges b ON b.id OPERATOR(pg_catalog.=) a.badge_id
					 WHERE a.user_id OPERATOR(pg_catalog.=) $1) AS awards) r$q$, tables)
	INTO export USING user_id;
	RETURN export;
END
$$;

/*
 * The points ledger refuses deletes once per statement (the cascade of an
 * erasure deleted 1,500 entries with 1,500 calls of a row trigger).
 */
CREATE OR REPLACE FUNCTION osv.points_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		/* Once per statement: the cascade of deleting a user is one statement. */
		IF EXISTS (SELECT FROM old_rows o JOIN osv.users u ON u.id = o.user_id) THEN
			RAISE EXCEPTION 'cannot delete from the points ledger'
				USING ERRCODE = 'prohibited_sql_statement_attempted',
					  DETAIL = 'osv.points is append-only; entries go away only with their user.',
					  HINT = 'Award negative points with osv.award_points() to correct a total.';
		END IF;
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'cannot update the points ledger'
		USING ERRCODE = 'prohibited_sql_statement_attempted',
			  DETAIL = 'osv.points is append-only.',
			  HINT = 'Award negative points with osv.award_points() to correct a total.';
END
$$;
COMMENT ON FUNCTION osv.points_append_only() IS 'trigger: refuse updates of the points ledger and deletes other than the cascade of deleting a user';

DROP TRIGGER append_only ON osv.points;
CREATE TRIGGER append_only BEFORE UPDATE ON osv.points
	FOR EACH ROW EXECUTE FUNCTION osv.points_append_only();
CREATE TRIGGER append_only_delete AFTER DELETE ON osv.points
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.points_append_only();

