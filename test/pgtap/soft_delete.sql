-- pgTAP: soft-delete behaviour (DESIGN.md section 4), as assertions.
BEGIN;
SELECT plan(16);

INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|tap1', 'tap1@example.org', 'Tap One'), ('auth0|tap2', 'tap2@example.org', 'Tap Two');
CREATE TEMP TABLE tu AS SELECT id, name FROM osv.users WHERE auth0_id LIKE 'auth0|tap%';
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'text', 'note ' || g, 'tap-docs', id || '/' || g FROM tu, generate_series(1, 5) g;
INSERT INTO osv.summaries (document_id, content) SELECT id, 'summary ' || title FROM osv.documents WHERE storage_bucket = 'tap-docs';

SELECT results_eq($$SELECT count(*) FROM osv.summaries s JOIN osv.documents d ON d.id = s.document_id WHERE s.user_id = d.user_id AND d.storage_bucket = 'tap-docs'$$,
	ARRAY[10::bigint], 'summaries take their user from the document');

-- trash one document on its own, then its owner
UPDATE osv.documents SET deleted_at = now() WHERE storage_key = (SELECT id FROM tu WHERE name = 'Tap One') || '/1';
SELECT is((SELECT count(*) FROM osv.summaries WHERE deleted_at IS NOT NULL), 1::bigint, 'trashing a document trashes its summary');
SELECT ok(osv.soft_delete('osv.users', (SELECT id FROM tu WHERE name = 'Tap One')), 'soft_delete returns true for a live row');
SELECT is((SELECT count(*) FROM osv.documents d JOIN tu ON tu.id = d.user_id WHERE tu.name = 'Tap One' AND d.deleted_at IS NULL), 0::bigint,
	'trashing a user trashes all their documents');
SELECT is((SELECT count(*) FROM osv.summaries s JOIN tu ON tu.id = s.user_id WHERE tu.name = 'Tap One' AND s.deleted_at IS NULL), 0::bigint,
	'trashing a user trashes all their summaries');
SELECT is((SELECT count(*) FROM osv.documents d JOIN tu ON tu.id = d.user_id WHERE tu.name = 'Tap Two' AND d.deleted_at IS NOT NULL), 0::bigint,
	'other users are untouched');
SELECT ok(NOT osv.soft_delete('osv.users', (SELECT id FROM tu WHERE name = 'Tap One')), 'soft_delete returns false for a trashed row');

SELECT throws_ok($$INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
	SELECT id, 'pdf', 'x', 'tap-docs', 'x' FROM tu WHERE name = 'Tap One'$$,
	'55000', NULL, 'no live row under a trashed user');
SELECT throws_ok($$SELECT osv.restore('osv.summaries', (SELECT min(s.id) FROM osv.summaries s JOIN tu ON tu.id = s.user_id WHERE tu.name = 'Tap One'))$$,
	'55000', NULL, 'no restore of a child under a trashed parent');

SELECT ok(osv.restore('osv.users', (SELECT id FROM tu WHERE name = 'Tap One')), 'restore returns true for a trashed row');
SELECT is((SELECT count(*) FROM osv.documents d JOIN tu ON tu.id = d.user_id WHERE tu.name = 'Tap One' AND d.deleted_at IS NOT NULL), 1::bigint,
	'restore brings back what the cascade trashed, not the document trashed before');
SELECT is((SELECT count(*) FROM osv.summaries s JOIN tu ON tu.id = s.user_id WHERE tu.name = 'Tap One' AND s.deleted_at IS NOT NULL), 1::bigint,
	'the summary of the document trashed before stays trashed');
SELECT is((SELECT count(*) FROM osv.users WHERE trash_batch IS NOT NULL AND deleted_at IS NULL), 0::bigint, 'live rows carry no trash batch');

SELECT throws_ok($$SELECT osv.soft_delete('osv.points', 1)$$, '42809', NULL, 'tables without soft deletes are refused');

-- hard delete cascades
DELETE FROM osv.users WHERE id IN (SELECT id FROM tu);
SELECT is((SELECT count(*) FROM osv.documents WHERE storage_bucket = 'tap-docs'), 0::bigint, 'DELETE of a user deletes their documents');
SELECT is((SELECT count(*) FROM osv.summaries s WHERE s.content LIKE 'summary note %'), 0::bigint, 'and their summaries');

SELECT * FROM finish();
ROLLBACK;
