--
-- The vector layer's transactional outbox and the SQL side of the sync.
-- The sync worker is off in this suite (test/osv.conf); Qdrant is pointed at
-- a closed port to check how an unreachable Qdrant is reported.
--
CREATE EXTENSION IF NOT EXISTS osv;

INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|vo1', 'vo1@example.org'), ('auth0|vo2', 'vo2@example.org');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'pdf', 'doc ' || g, 'vo-bucket', 'vo/' || g
  FROM generate_series(1, 6) g
  JOIN osv.users u ON u.auth0_id = CASE WHEN g <= 3 THEN 'auth0|vo1' ELSE 'auth0|vo2' END;

-- Embedded mode (osv.qdrant_url empty): nothing is enqueued, the sync refuses.
SHOW osv.qdrant_url;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'embedded', 'embedded mode', array_fill(0.5::real, ARRAY[384])
  FROM osv.documents d WHERE d.storage_key = 'vo/6';
SELECT count(*) AS outbox_rows FROM osv.vector_outbox;
SELECT osv.vector_sync();
SELECT osv.vector_resync();
SELECT osv.vector_reconcile();
SELECT * FROM osv.qdrant_search('{1,0,0}', 5, NULL, NULL, NULL);
DELETE FROM osv.summaries WHERE topic = 'embedded';

-- Point osv at a closed port (a throwaway instance: ALTER SYSTEM is fine).
ALTER SYSTEM SET osv.qdrant_url = 'http://127.0.0.1:9';
ALTER SYSTEM SET osv.vector_dimensions = 3;
ALTER SYSTEM SET osv.qdrant_connect_timeout = '500ms';
ALTER SYSTEM SET osv.vector_sync_backoff = '1ms';
ALTER SYSTEM SET osv.vector_sync_backoff_max = '1ms';
SELECT pg_reload_conf();
\c
SHOW osv.qdrant_url;

CREATE TEMP VIEW outbox AS
SELECT d.storage_key AS doc, o.version, o.state, o.attempts
  FROM osv.vector_outbox o LEFT JOIN osv.summaries s ON s.id = o.summary_id
  LEFT JOIN osv.documents d ON d.id = s.document_id
 WHERE d.storage_key LIKE 'vo/%'
 ORDER BY d.storage_key;

-- Inserts enqueue only summaries with an embedding.
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, CASE WHEN d.storage_key IN ('vo/1', 'vo/4') THEN 'math' ELSE 'bio' END,
	   'vo summary of ' || d.title,
	   CASE WHEN d.storage_key = 'vo/6' THEN NULL ELSE ARRAY[right(d.storage_key, 1)::real, 1, 0] END
  FROM osv.documents d WHERE d.storage_key LIKE 'vo/%';
SELECT * FROM outbox;

-- A rolled back change enqueues nothing.
BEGIN;
UPDATE osv.summaries SET topic = 'rolled back';
ROLLBACK;
SELECT * FROM outbox;

-- Changes that do not matter to Qdrant enqueue nothing.
TRUNCATE osv.vector_outbox;
UPDATE osv.summaries SET content = content || '.' WHERE content LIKE 'vo summary of doc%';
UPDATE osv.documents SET title = title || '!' WHERE storage_key LIKE 'vo/%';
UPDATE osv.summaries SET topic = 'still none' WHERE embedding IS NULL AND content LIKE 'vo summary of doc%';
UPDATE osv.summaries SET embedding = embedding WHERE content LIKE 'vo summary of doc%';
SELECT count(*) AS outbox_rows FROM osv.vector_outbox;

-- Changes that matter coalesce into one row per summary, bumping its version.
UPDATE osv.summaries SET topic = 'physics' WHERE content LIKE '%doc 1.%';
UPDATE osv.summaries SET embedding = '{1,2,3}' WHERE content LIKE '%doc 1.%';
UPDATE osv.summaries SET user_id = (SELECT id FROM osv.users WHERE auth0_id = 'auth0|vo1')
 WHERE content LIKE '%doc 4.%';
UPDATE osv.summaries SET created_at = created_at - interval '1 day' WHERE content LIKE '%doc 5.%';
UPDATE osv.summaries SET embedding = '{0,0,1}' WHERE embedding IS NULL AND content LIKE 'vo summary of doc%';
SELECT * FROM outbox;

-- Trash and restore through the soft-delete cascades of documents and users.
TRUNCATE osv.vector_outbox;
SELECT osv.soft_delete('osv.documents', (SELECT id FROM osv.documents WHERE storage_key = 'vo/2'));
SELECT * FROM outbox;
UPDATE osv.users SET deleted_at = now() WHERE auth0_id = 'auth0|vo2';
SELECT * FROM outbox;
-- A second trash of trashed rows changes nothing for Qdrant.
TRUNCATE osv.vector_outbox;
UPDATE osv.summaries SET deleted_at = now() WHERE deleted_at IS NOT NULL AND content LIKE 'vo summary of doc%';
SELECT count(*) AS outbox_rows FROM osv.vector_outbox;
SELECT osv.restore('osv.users', (SELECT id FROM osv.users WHERE auth0_id = 'auth0|vo2'));
SELECT * FROM outbox;

-- Clearing an embedding and a real DELETE enqueue (the point must go).
TRUNCATE osv.vector_outbox;
UPDATE osv.summaries SET embedding = NULL WHERE content LIKE '%doc 3.%';
DELETE FROM osv.summaries WHERE content LIKE '%doc 5.%';
SELECT count(*) AS outbox_rows, count(*) FILTER (WHERE s.id IS NULL) AS deleted_summaries
  FROM osv.vector_outbox o LEFT JOIN osv.summaries s ON s.id = o.summary_id;
SELECT * FROM outbox;
-- Deleting a trashed summary does not (its point is gone already).
TRUNCATE osv.vector_outbox;
DELETE FROM osv.summaries WHERE content LIKE '%doc 2.%';
SELECT count(*) AS outbox_rows FROM osv.vector_outbox;

-- osv.vector_resync() enqueues every live summary with an embedding (also
-- those of other tests).
SELECT osv.vector_resync() = (SELECT count(*) FROM osv.summaries WHERE deleted_at IS NULL AND embedding IS NOT NULL)
	AS every_live_summary;
SELECT * FROM outbox;
-- From here on only this test's live summaries are pending.
TRUNCATE osv.vector_outbox;
UPDATE osv.summaries SET topic = topic || '+' WHERE content LIKE 'vo summary of doc%' AND embedding IS NOT NULL;
SELECT * FROM outbox;

-- The status view.
SELECT target, pending, failed, in_flight, oldest_pending_age >= '0'::interval AS has_age,
	   last_error, consecutive_failures
  FROM osv.vector_sync_status;

-- Qdrant unreachable: a WARNING, nothing completed, nothing lost, and the
-- failure is the target's, not the entries' (no attempt is used up).
\set VERBOSITY terse
SELECT osv.vector_sync();
SELECT * FROM outbox;
SELECT target, pending, failed, in_flight, last_error, consecutive_failures, retry_at IS NOT NULL AS backing_off
  FROM osv.vector_sync_status;
SELECT pg_sleep(0.01);
SELECT osv.vector_sync(2);
SELECT consecutive_failures FROM osv.vector_sync_status;
-- a search falls back to the in-database scan (osv.search_fallback), or fails with it off
-- (summaries named by content: their ids depend on the tests run before)
SELECT s.content, r.score
  FROM osv.qdrant_search('{1,0,0}', 5, NULL, NULL, NULL) r JOIN osv.summaries s ON s.id = r.summary_id
 ORDER BY r.score DESC, s.content;
SET osv.search_fallback = off;
SELECT * FROM osv.qdrant_search('{1,0,0}', 5, NULL, NULL, NULL);
RESET osv.search_fallback;
SELECT osv.vector_reconcile();
SELECT osv.qdrant_delete_user_points(1);
\set VERBOSITY default

-- Bad arguments.
SELECT osv.vector_sync(0);
SELECT * FROM osv.qdrant_search(NULL, 5, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,0,0}', NULL, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,0,0}', 0, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,0,0}', 1001, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{0,0,0}', 5, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,3e38,0}', 5, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,0}', 5, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,NULL,0}', 5, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{1,NaN,0}', 5, NULL, NULL, NULL);
SELECT * FROM osv.qdrant_search('{{1,0,0}}', 5, NULL, NULL, NULL);
SELECT osv.vector_sync_claim(0);
SELECT osv.vector_sync_complete(1, '{1,NULL}');

-- Claim and complete, the steps of the sync on their own.
SELECT count(*) AS claimed, count(DISTINCT claim_id) AS claims, bool_and(upsert) AS all_upserts
  FROM osv.vector_sync_claim(2);
SELECT count(*) FILTER (WHERE claim_id IS NOT NULL) AS in_flight, max(attempts) AS max_attempts
  FROM osv.vector_outbox;
-- Claimed entries are not claimed again while their lease runs.
SELECT count(*) AS claimed FROM osv.vector_sync_claim(100);
SELECT count(*) AS claimed FROM osv.vector_sync_claim(100);
-- Completing a claim deletes the entries that reached Qdrant, releases the rest.
SELECT osv.vector_sync_complete(c, ARRAY(SELECT summary_id FROM osv.vector_outbox WHERE claim_id = c))
  FROM (SELECT max(claim_id) AS c FROM osv.vector_outbox) x;
SELECT osv.vector_sync_complete(c, '{}')
  FROM (SELECT max(claim_id) AS c FROM osv.vector_outbox) x;
SELECT count(*) AS left_over, count(*) FILTER (WHERE claim_id IS NOT NULL) AS in_flight,
	   max(attempts) AS max_attempts FROM osv.vector_outbox;

-- A change made while a batch is in flight stays pending.
UPDATE osv.summaries SET topic = topic || '+' WHERE content LIKE 'vo summary of doc%' AND embedding IS NOT NULL;
CREATE TEMP TABLE claimed AS SELECT * FROM osv.vector_sync_claim(100);
UPDATE osv.summaries SET topic = 'changed in flight' WHERE id = (SELECT min(summary_id) FROM claimed);
SELECT osv.vector_sync_complete((SELECT min(claim_id) FROM claimed), ARRAY(SELECT summary_id FROM claimed));
SELECT o.version, o.state, o.claim_id IS NULL AS released, s.topic
  FROM osv.vector_outbox o JOIN osv.summaries s ON s.id = o.summary_id
 ORDER BY s.topic;

-- The claim and the record probe the outbox's indexes, never scan it whole,
-- whatever its statistics say (they are stale after every burst: an ANALYZE
-- of the empty outbox made each claim of a backfill compare every row with
-- the claimed ids).  A small outbox is where a scan would be chosen.  The
-- counts are this transaction's once the session's earlier ones are flushed;
-- osv.vector_sync_complete() then releases the entries it was not given by
-- claim id, which no index serves: its one scan.
SELECT pg_catalog.pg_stat_force_next_flush();
BEGIN;
CREATE TEMP TABLE claimed_again AS SELECT * FROM osv.vector_sync_claim(100);
SELECT (SELECT count(*) FROM claimed_again) > 0 AS claimed,
	   seq_scan AS outbox_seq_scans, idx_scan > 0 AS index_used
  FROM pg_catalog.pg_stat_xact_user_tables WHERE relid = 'osv.vector_outbox'::regclass;
SELECT osv.vector_sync_complete((SELECT min(claim_id) FROM claimed_again),
								ARRAY(SELECT summary_id FROM claimed_again)) > 0 AS completed;
SELECT seq_scan AS outbox_seq_scans
  FROM pg_catalog.pg_stat_xact_user_tables WHERE relid = 'osv.vector_outbox'::regclass;
ROLLBACK;

-- A backfill's claims are HOT updates: each page of the outbox keeps room
-- for the claim of every row on it (fillfactor: a claimed row is half as
-- large again as an enqueued one), so no claim adds index entries.
BEGIN;
TRUNCATE osv.vector_outbox;
INSERT INTO osv.vector_outbox (summary_id) SELECT g FROM pg_catalog.generate_series(1000001, 1000300) g;
SELECT count(*) AS claimed FROM osv.vector_sync_claim(300);
SELECT n_tup_upd >= 300 AS claimed_rows_updated, n_tup_hot_upd = n_tup_upd AS all_hot
  FROM pg_catalog.pg_stat_xact_user_tables WHERE relid = 'osv.vector_outbox'::regclass;
ROLLBACK;

-- TRUNCATE replaces the outbox by the marker 0.
BEGIN;
TRUNCATE osv.summaries CASCADE;
SELECT summary_id, state FROM osv.vector_outbox;
ROLLBACK;
-- ... but for the entries in flight (another process may be sending them,
-- and its upsert may land after the marker's drop): they stay claimed, as
-- changes, so that their record does not complete them and they are sent
-- again after the marker.
BEGIN;
CREATE TEMP TABLE truncated_in_flight ON COMMIT DROP AS SELECT * FROM osv.vector_sync_claim(2);
TRUNCATE osv.summaries CASCADE;
SELECT count(*) AS claimed_before FROM truncated_in_flight;
SELECT o.summary_id = 0 AS marker, o.state, o.claim_id IS NOT NULL AS claimed,
	   o.version OPERATOR(pg_catalog.-) o.claimed_version AS changes, count(*)
  FROM osv.vector_outbox o GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT osv.vector_sync_complete((SELECT min(claim_id) FROM truncated_in_flight),
								ARRAY(SELECT summary_id FROM truncated_in_flight)) AS completed;
SELECT count(*) FILTER (WHERE summary_id <> 0 AND state = 'pending' AND claim_id IS NULL) AS to_send_again
  FROM osv.vector_outbox;
ROLLBACK;

-- ... and for the entries whose last write is in doubt (it timed out after it
-- was sent: Qdrant may still apply it, after the marker's drop and the new
-- collection's creation): they stay, with their fence and their user, so
-- that the delete sent for them after the fence removes a late upsert, and
-- an erasure sweep of the user keeps waiting for them; pending again, even
-- when a later attempt failed for good.
BEGIN;
UPDATE osv.vector_outbox o SET in_doubt_until = now() + interval '1 minute', in_doubt_user_id = s.user_id,
	   state = 'failed', last_error = 'a later attempt failed'
  FROM osv.summaries s
 WHERE s.id = o.summary_id
   AND o.summary_id = (SELECT min(summary_id) FROM osv.vector_outbox WHERE claim_id IS NULL);
SELECT count(*) AS in_doubt_before FROM osv.vector_outbox WHERE in_doubt_until > now() AND claim_id IS NULL;
TRUNCATE osv.summaries CASCADE;
SELECT o.summary_id = 0 AS marker, o.state, o.claim_id IS NOT NULL AS claimed, o.last_error IS NULL AS no_error,
	   o.in_doubt_until > now() AS in_doubt, o.in_doubt_user_id IS NOT NULL AS with_user, count(*)
  FROM osv.vector_outbox o GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6;
ROLLBACK;

-- Clean up.
TRUNCATE osv.vector_outbox;
UPDATE osv.vector_sync_targets SET retry_at = NULL, consecutive_failures = 0, last_error = NULL, last_error_at = NULL;
DELETE FROM osv.users WHERE auth0_id LIKE 'auth0|vo%';
ALTER SYSTEM RESET osv.qdrant_url;
ALTER SYSTEM RESET osv.vector_dimensions;
ALTER SYSTEM RESET osv.qdrant_connect_timeout;
ALTER SYSTEM RESET osv.vector_sync_backoff;
ALTER SYSTEM RESET osv.vector_sync_backoff_max;
SELECT pg_reload_conf();
