--
-- osv.register_upload(): documents that reference their file in object storage.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse
SELECT osv.upsert_auth0_user('{"sub": "auth0|ada", "email": "ada@example.org", "name": "Ada"}') AS ada \gset
SELECT osv.upsert_auth0_user('{"sub": "auth0|bob", "email": "bob@example.org", "name": "Bob"}') AS bob \gset

-- the type follows the content type unless given; the title defaults to the key's last segment
SELECT osv.document_type_of(t) AS type, t AS content_type
FROM unnest(ARRAY['application/pdf', 'Application/PDF; charset=binary', 'audio/mpeg', 'video/mp4', 'image/png',
	'text/markdown', 'application/json', 'application/xml; charset=utf-8', 'application/zip', 'application/pdfx']) t;
SELECT osv.register_upload(:ada, 'osv-docs', 'ada/lecture-1.pdf', 'application/pdf', 182734,
	'9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08') AS doc1;
SELECT osv.register_upload(:ada, 'osv-docs', 'ada/talk.mp3', 'audio/mpeg', 5000000,
	repeat('ab', 32), 'Recorded talk') AS doc2;
SELECT osv.register_upload(:ada, 'osv-docs', 'ada/scan.bin', 'application/octet-stream', 0,
	repeat('0', 64), NULL, 'image') AS doc3;
SELECT osv.register_upload(:bob, 'osv-docs', 'bob/', 'text/plain', 12, repeat('1', 64)) AS doc4;
SELECT d.id, u.name AS owner, d.type, d.title, d.storage_bucket, d.storage_key, d.content_type, d.size_bytes,
	   d.checksum_sha256
FROM osv.documents d JOIN osv.users u ON u.id = d.user_id ORDER BY d.id;
-- each registration is logged
SELECT user_id, event_type, properties FROM osv.activity_logs ORDER BY id;

-- a trashed document frees its object key
SELECT osv.soft_delete('osv.documents', 1);
SELECT osv.register_upload(:ada, 'osv-docs', 'ada/lecture-1.pdf', 'application/pdf', 182734, repeat('a', 64)) AS doc5;

-- errors
SELECT osv.register_upload(NULL, 'osv-docs', 'k', 'application/pdf', 1, repeat('a', 64));
SELECT osv.register_upload(:ada, 'osv-docs', 'k', 'application/pdf', NULL, repeat('a', 64));
SELECT osv.register_upload(999999, 'osv-docs', 'k', 'application/pdf', 1, repeat('a', 64));
SELECT osv.register_upload(:ada, 'osv-docs', 'k', 'pdf', 1, repeat('a', 64));
SELECT osv.register_upload(:ada, 'osv-docs', 'k', 'application/pdf', -1, repeat('a', 64));
SELECT osv.register_upload(:ada, 'osv-docs', 'k', 'application/pdf', 1, 'abc');
SELECT osv.register_upload(:ada, 'osv-docs', 'k', 'application/pdf', 1, repeat('g', 64));
SELECT osv.register_upload(:ada, 'osv-docs', 'k', 'application/pdf', 1, repeat('a', 64), NULL, 'spreadsheet');
SELECT osv.register_upload(:ada, 'osv-docs', 'ada/lecture-1.pdf', 'application/pdf', 1, repeat('a', 64));
SELECT osv.register_upload(:ada, 'Bad_Bucket', 'k', 'application/pdf', 1, repeat('a', 64));
SELECT osv.register_upload(:ada, 'osv-docs', '', 'application/pdf', 1, repeat('a', 64));
SELECT osv.soft_delete('osv.users', :bob);
SELECT osv.register_upload(:bob, 'osv-docs', 'bob/2', 'text/plain', 1, repeat('a', 64));
-- nothing of the failed calls was kept
SELECT count(*) AS documents FROM osv.documents;
