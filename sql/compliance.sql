--
-- GDPR: export, erasure with a receipt, tokenized analytics.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges CASCADE;
RESET client_min_messages;

INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|gdpr', 'gdpr@example.org', 'Gina'), ('auth0|other', 'other@example.org', 'Otto');
CREATE TEMP TABLE g AS SELECT id FROM osv.users WHERE auth0_id = 'auth0|gdpr';
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'pdf', 'doc ' || n, 'osv-docs', u.auth0_id || '/' || n FROM osv.users u, generate_series(1, 2) n;
INSERT INTO osv.summaries (document_id, content) SELECT id, 'summary of ' || title FROM osv.documents;
INSERT INTO osv.activity_logs (user_id, event_type, properties) SELECT id, 'page.view', '{"page": "home"}' FROM osv.users;
INSERT INTO osv.badges (slug, name) VALUES ('early-bird', 'Early bird');
INSERT INTO osv.awards (user_id, badge_id) SELECT g.id, b.id FROM g, osv.badges b;
INSERT INTO osv.points (user_id, amount, reason) SELECT id, 10, 'welcome' FROM osv.users;
-- trashed content is exported too
UPDATE osv.documents SET deleted_at = now() WHERE storage_key = 'auth0|gdpr/2';

-- the export holds everything about the user and nothing about others
SELECT key, CASE jsonb_typeof(value) WHEN 'array' THEN jsonb_array_length(value)::text ELSE jsonb_typeof(value) END AS content
FROM jsonb_each(osv.data_export((SELECT id FROM g))) ORDER BY key;
SELECT e->'user'->>'email' AS email, e->'awards'->0->>'badge' AS badge,
       (SELECT count(*) FROM jsonb_array_elements(e->'documents') d WHERE d->>'deleted_at' IS NOT NULL) AS trashed_documents,
       e->'user' ? 'trash_batch' AS internal_columns_shown
FROM osv.data_export((SELECT id FROM g)) e;

-- analytics see a stable token, never the user id or e-mail
SELECT count(*) AS events, count(DISTINCT user_token) AS users,
       bool_and(user_token ~ '^[0-9a-f]{64}$') AS tokens_are_hashes,
       bool_and(user_token <> (SELECT id FROM g)::text) AS not_the_id
FROM osv.analytics_events;
SELECT osv.analytics_token(1) = osv.analytics_token(1) AS stable, osv.analytics_token(1) <> osv.analytics_token(2) AS distinct_users;
-- trashed users drop out of analytics
UPDATE osv.users SET deleted_at = now() WHERE auth0_id = 'auth0|other';
SELECT count(*) AS events FROM osv.analytics_events;
UPDATE osv.users SET deleted_at = NULL WHERE auth0_id = 'auth0|other';
-- only superusers can read the secret or compute tokens
SELECT has_table_privilege('public', 'osv.analytics_secret', 'SELECT') AS public_reads_secret,
       has_function_privilege('public', 'osv.analytics_token(bigint)', 'EXECUTE') AS public_makes_tokens;

-- erasure: every row goes, files are queued, the receipt holds no personal data
SELECT r - 'receipt' - 'erased_at' AS receipt, r->>'receipt' ~ '^[0-9a-f-]{36}$' AS has_receipt_id
FROM osv.data_delete((SELECT id FROM g)) r;
SELECT (SELECT count(*) FROM osv.users WHERE id = (SELECT id FROM g)) AS users,
       (SELECT count(*) FROM osv.documents WHERE user_id = (SELECT id FROM g)) AS documents,
       (SELECT count(*) FROM osv.activity_logs WHERE user_id = (SELECT id FROM g)) AS logs,
       (SELECT count(*) FROM osv.points WHERE user_id = (SELECT id FROM g)) AS points;
SELECT storage_bucket, storage_key, erasure_id IS NOT NULL AS linked_to_receipt
FROM osv.storage_deletions WHERE storage_key LIKE 'auth0|gdpr/%' ORDER BY storage_key;
-- the ledger names the person by keyed hashes only; object storage is pending until S3 confirms
SELECT targets, confirmed_at IS NULL AS unconfirmed, user_hash ~ '^[0-9a-f]{64}$' AS user_hashed,
       auth0_hash = osv.erasure_subject_hash('auth0', 'auth0|gdpr') AS auth0_hashed,
       (erased->>'documents')::int AS documents, object_written_at IS NULL AS copy_due,
       osv.erasure_ledger_document(l)::text !~ 'gdpr' AS copy_without_personal_data
FROM osv.erasure_ledger l;
SELECT erased::text !~ 'gdpr' AS receipt_without_personal_data FROM osv.erasure_receipts;
-- the other user is untouched
SELECT count(*) AS other_documents FROM osv.documents d JOIN osv.users u ON u.id = d.user_id WHERE u.auth0_id = 'auth0|other';

-- erasure while Qdrant cannot be reached: the erasure sends nothing and goes
-- through; the vector outbox holds the deletion of every point of the user
UPDATE osv.summaries SET embedding = osv.embed_text(content)
WHERE user_id = (SELECT id FROM osv.users WHERE auth0_id = 'auth0|other');
ALTER SYSTEM SET osv.qdrant_url = 'http://127.0.0.1:9';
ALTER SYSTEM SET osv.qdrant_connect_timeout = '200ms';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SELECT r->>'vector_points' AS vector_points, (r->>'summaries')::int AS summaries
FROM osv.data_delete((SELECT id FROM osv.users WHERE auth0_id = 'auth0|other')) r;
SELECT count(*) AS outbox_deletions FROM osv.vector_outbox;
-- the receipt and the ledger say Qdrant is pending, and the sweep is queued under the receipt
SELECT l.targets->>'qdrant' AS qdrant, l.confirmed_at IS NULL AS unconfirmed, w.user_id IS NOT NULL AS sweep_queued,
       r.erased->'targets' = l.targets AS receipt_says_the_same
FROM osv.erasure_ledger l JOIN osv.erasure_receipts r ON r.id = l.receipt
LEFT JOIN osv.vector_erasure_sweeps w USING (receipt) ORDER BY l.erased_at DESC LIMIT 1;
SELECT target, pending, failed FROM osv.storage_sync_status WHERE target = 'qdrant_sweeps';
ALTER SYSTEM RESET osv.qdrant_url;
ALTER SYSTEM RESET osv.qdrant_connect_timeout;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
TRUNCATE osv.vector_outbox, osv.vector_erasure_sweeps;

-- bad calls
\set VERBOSITY terse
SELECT osv.data_export(NULL);
SELECT osv.data_export(-1);
SELECT osv.data_delete(-1);
SELECT osv.data_delete(NULL);
