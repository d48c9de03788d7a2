--
-- Search and recommendations in the embedded mode (DESIGN.md section 5):
-- exact cosine similarity over live summaries, best first, ties by id.
--
SET client_min_messages = warning;
TRUNCATE osv.users RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never
SHOW osv.qdrant_url;

INSERT INTO osv.users (auth0_id, email, name)
VALUES ('auth0|ada', 'ada@example.org', 'ada'), ('auth0|bob', 'bob@example.org', 'bob'),
       ('auth0|cy', 'cy@example.org', 'cy'), ('auth0|dee', 'dee@example.org', 'dee');
CREATE TEMP TABLE u AS SELECT name, id FROM osv.users;
CREATE TEMP TABLE corpus (owner text, topic text, content text, embedded boolean);
INSERT INTO corpus VALUES
	('ada', 'biology', 'cell membranes control what enters the cell', true),
	('ada', 'biology', 'photosynthesis turns light into chemical energy in plants', true),
	('ada', 'history', 'the french revolution began in 1789', true),
	('ada', 'misc', 'a duplicate summary text', true),
	('bob', 'biology', 'the cell membrane is a lipid bilayer around the cell', true),
	('bob', 'biology', 'light reactions of photosynthesis happen in the thylakoid', true),
	('bob', 'history', 'napoleon rose to power after the french revolution', true),
	('bob', 'physics', 'quantum mechanics describes very small particles', true),
	('bob', 'misc', 'a duplicate summary text', true),
	('cy', 'biology', 'cell membrane notes not embedded yet', false),
	('dee', 'biology', 'cell membranes and cell walls of plants', true);
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'text', c.content, 'osv-docs', c.owner || '/' || md5(c.content) FROM corpus c JOIN u ON u.name = c.owner;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, c.topic, c.content, CASE WHEN c.embedded THEN osv.embed_text(c.content) END
FROM osv.documents d JOIN u ON u.id = d.user_id JOIN corpus c ON c.content = d.title AND c.owner = u.name;
CREATE TEMP VIEW s AS
SELECT s.id, u.name AS owner, s.content FROM osv.summaries s JOIN u ON u.id = s.user_id;

-- best first, with the cosine as score
SELECT s.owner, s.content, round(r.score::numeric, 4) AS score
FROM osv.search_summaries(osv.embed_text('the cell membrane'), 4) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
-- the same order as cosine similarity computed in SQL over every live embedded summary
SELECT array_agg(summary_id ORDER BY rank) = (
	SELECT array_agg(id ORDER BY score DESC, id) FROM (
		SELECT x.id, (SELECT sum(a::float8 * b) / sqrt(sum(a::float8 * a) * sum(b::float8 * b))
					  FROM unnest(x.embedding, osv.embed_text('photosynthesis in plants')) t(a, b)) AS score
		FROM osv.summaries x WHERE x.deleted_at IS NULL AND x.embedding IS NOT NULL) c) AS same_as_sql
FROM osv.search_summaries(osv.embed_text('photosynthesis in plants'), 1000) WITH ORDINALITY r(summary_id, score, rank);
-- every live embedded summary is found, each once; cy's unembedded summary never is
SELECT count(*) AS found, count(DISTINCT summary_id) AS distinct_found, bool_and(s.owner <> 'cy') AS no_unembedded
FROM osv.search_summaries(osv.embed_text('cell membrane notes'), 1000) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id;
-- equal scores: the lower summary id first
SELECT s.owner, s.content, r.score = 1 AS exact_match
FROM osv.search_summaries(osv.embed_text('a duplicate summary text'), 2) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;

-- filters: one user's summaries (the assistant's memory), one topic, both
SELECT s.owner, s.content FROM osv.search_summaries(osv.embed_text('the cell membrane'), 3, (SELECT id FROM u WHERE name = 'bob')) WITH ORDINALITY r(summary_id, score, rank)
JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT s.owner, s.content FROM osv.search_summaries(osv.embed_text('the french revolution'), 10, topic => 'history') WITH ORDINALITY r(summary_id, score, rank)
JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT s.owner, s.content FROM osv.search_summaries(osv.embed_text('photosynthesis'), 10, (SELECT id FROM u WHERE name = 'ada'), 'biology') WITH ORDINALITY r(summary_id, score, rank)
JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT count(*) AS unknown_user FROM osv.search_summaries(osv.embed_text('cell'), 10, -1);
SELECT count(*) AS unknown_topic FROM osv.search_summaries(osv.embed_text('cell'), 10, NULL, 'astrology');

-- trashed content is never returned: trash a document, then its owner
SELECT osv.soft_delete('osv.documents', (SELECT id FROM osv.documents WHERE title LIKE 'the cell membrane is%'));
SELECT s.owner, s.content FROM osv.search_summaries(osv.embed_text('the cell membrane'), 3) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT osv.restore('osv.documents', (SELECT id FROM osv.documents WHERE title LIKE 'the cell membrane is%'));
SELECT s.owner, s.content FROM osv.search_summaries(osv.embed_text('the cell membrane'), 3) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT osv.soft_delete('osv.users', (SELECT id FROM u WHERE name = 'bob'));
SELECT count(*) FILTER (WHERE s.owner = 'bob') AS bob_found, count(*) AS found
FROM osv.search_summaries(osv.embed_text('the cell membrane'), 1000) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id;
SELECT count(*) AS bob_memory FROM osv.search_summaries(osv.embed_text('the cell membrane'), 10, (SELECT id FROM u WHERE name = 'bob'));
SELECT osv.restore('osv.users', (SELECT id FROM u WHERE name = 'bob'));
SELECT count(*) FILTER (WHERE s.owner = 'bob') AS bob_found, count(*) AS found
FROM osv.search_summaries(osv.embed_text('the cell membrane'), 1000) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id;
-- a summary trashed on its own, and one whose embedding is removed
UPDATE osv.summaries SET deleted_at = now() WHERE content LIKE 'quantum%';
UPDATE osv.summaries SET embedding = NULL WHERE content LIKE 'napoleon%';
SELECT count(*) AS found FROM osv.search_summaries(osv.embed_text('quantum mechanics napoleon'), 1000) WITH ORDINALITY r(summary_id, score, rank)
JOIN s ON s.id = r.summary_id WHERE s.content LIKE 'quantum%' OR s.content LIKE 'napoleon%';
UPDATE osv.summaries SET deleted_at = NULL WHERE content LIKE 'quantum%';
UPDATE osv.summaries SET embedding = osv.embed_text(content) WHERE content LIKE 'napoleon%';
SELECT s.content FROM osv.search_summaries(osv.embed_text('quantum mechanics napoleon'), 2) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;

-- the transaction's snapshot: its own new summary is found, another's uncommitted one is not
BEGIN;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT id, 'text', 'uncommitted', 'osv-docs', 'ada/uncommitted' FROM u WHERE name = 'ada';
INSERT INTO osv.summaries (document_id, content, embedding)
SELECT id, 'glaciers carve valleys', osv.embed_text('glaciers carve valleys') FROM osv.documents WHERE title = 'uncommitted';
SELECT s.content FROM osv.search_summaries(osv.embed_text('glaciers'), 1) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
ROLLBACK;
SELECT count(*) AS found FROM osv.search_summaries(osv.embed_text('glaciers'), 1000) r JOIN s ON s.id = r.summary_id
WHERE s.content LIKE 'glaciers%';
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) AS serializable_found FROM osv.search_summaries(osv.embed_text('glaciers'), 1000);
COMMIT;

-- bad arguments
SELECT * FROM osv.search_summaries(osv.embed_text('cell'), 0);
SELECT * FROM osv.search_summaries(osv.embed_text('cell'), 1001);
SELECT * FROM osv.search_summaries(osv.embed_text('cell'), NULL);
SELECT * FROM osv.search_summaries(NULL);
SELECT * FROM osv.search_summaries('{1,2,3}');
SELECT * FROM osv.search_summaries(array_fill(0.5::real, ARRAY[2, 192]));
SELECT * FROM osv.search_summaries(array_fill(0::real, ARRAY[384]));
SELECT * FROM osv.search_summaries(array_fill('NaN'::real, ARRAY[384]));
SELECT * FROM osv.search_summaries(array_fill(NULL::real, ARRAY[384]));
SELECT count(*) AS k_1 FROM osv.search_summaries(osv.embed_text('cell'), 1);
-- k = 1000 is the largest k (1001 is refused above)
SELECT count(*) > 0 AS k_1000 FROM osv.search_summaries(osv.embed_text('cell'), 1000);
-- elements near FLT_MAX would overflow single-precision sums: refused
-- above 1e15, accepted at it
SELECT * FROM osv.search_summaries(array_fill(3e38::real, ARRAY[384]));
SELECT * FROM osv.search_summaries((SELECT array_agg(CASE WHEN i = 9 THEN -3e38 ELSE 0.1 END::real) FROM generate_series(1, 384) i));
SELECT * FROM osv.search_summaries(array_fill(1.01e15::real, ARRAY[384]));
SELECT count(*) AS max_abs_accepted FROM osv.search_summaries(array_fill(1e15::real, ARRAY[384]), 1);
-- a row stored before the limit (trigger off) whose sums overflow is
-- skipped, never scored
BEGIN;
ALTER TABLE osv.summaries DISABLE TRIGGER check_embedding;
UPDATE osv.summaries SET embedding = array_fill(3e38::real, ARRAY[384])
WHERE content = 'a duplicate summary text' AND user_id = (SELECT id FROM u WHERE name = 'ada');
SELECT count(*) FILTER (WHERE r.score >= 0.9999) AS perfect, count(*) FILTER (WHERE s.content = 'a duplicate summary text' AND s.owner = 'ada') AS overflowing_row
FROM osv.search_summaries(osv.embed_text('the french revolution'), 1000) r JOIN s ON s.id = r.summary_id;
ROLLBACK;

-- neighbours of a summary, itself excluded
SELECT s.owner, s.content, round(r.score::numeric, 4) AS score
FROM osv.similar_summaries((SELECT id FROM s WHERE content LIKE 'photosynthesis turns%'), 3) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT count(*) AS found, bool_or(r.summary_id = x.id) AS itself_found
FROM osv.summaries x, osv.similar_summaries(x.id, 1000) r WHERE x.content LIKE 'photosynthesis turns%' GROUP BY x.id;
-- its duplicate is its nearest neighbour
SELECT s.owner, r.score = 1 AS exact_match
FROM osv.similar_summaries((SELECT id FROM s WHERE owner = 'ada' AND content LIKE 'a duplicate%'), 1) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT * FROM osv.similar_summaries(-1);
SELECT * FROM osv.similar_summaries(NULL);
SELECT * FROM osv.similar_summaries((SELECT id FROM s WHERE owner = 'cy'));
UPDATE osv.summaries SET deleted_at = now() WHERE content LIKE 'quantum%';
SELECT * FROM osv.similar_summaries((SELECT id FROM s WHERE content LIKE 'quantum%'));
UPDATE osv.summaries SET deleted_at = NULL WHERE content LIKE 'quantum%';
SELECT * FROM osv.similar_summaries((SELECT id FROM s WHERE content LIKE 'quantum%'), 0);

-- recommendations: other users' live summaries closest to the user's recent ones
CREATE TEMP VIEW recs AS
SELECT r.id, o.name AS user_name, s.owner, s.content, r.revoked_at IS NOT NULL AS revoked,
       r.deleted_at IS NOT NULL AS trashed, r.expires_at - r.created_at AS ttl
FROM osv.recommendations r JOIN u o ON o.id = r.user_id JOIN s ON s.id = r.summary_id;
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), 3) AS stored;
SELECT user_name, owner, content, revoked, ttl FROM recs ORDER BY id;
-- a refresh replaces the live set: the old one is revoked, not deleted; trashed summaries are not recommended
SELECT osv.soft_delete('osv.documents', (SELECT id FROM osv.documents WHERE title LIKE 'cell membranes and cell walls%'));
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), 3) AS stored;
SELECT user_name, owner, content, revoked, trashed FROM recs ORDER BY id;
SELECT revoked, count(*) FROM recs GROUP BY revoked ORDER BY revoked;
SELECT osv.restore('osv.documents', (SELECT id FROM osv.documents WHERE title LIKE 'cell membranes and cell walls%'));
-- all of them are other users' summaries, best first
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'bob'), 1000) AS stored;
SELECT bool_and(owner <> 'bob') AS others_only, count(*) AS live FROM recs WHERE user_name = 'bob' AND NOT revoked;
-- a user without embedded summaries gets none, and loses the previous set
INSERT INTO osv.recommendations (user_id, summary_id, score, expires_at)
SELECT (SELECT id FROM u WHERE name = 'cy'), id, 0.5, now() + interval '1 day' FROM s WHERE content LIKE 'quantum%';
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'cy')) AS stored;
SELECT user_name, content, revoked FROM recs WHERE user_name = 'cy' ORDER BY id;
-- bad arguments
SELECT osv.refresh_recommendations(-1);
SELECT osv.refresh_recommendations(NULL);
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), 0);
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), NULL);
SELECT osv.soft_delete('osv.users', (SELECT id FROM u WHERE name = 'dee'));
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'dee'));
-- nothing changed by the failed calls
SELECT user_name, revoked, count(*) FROM recs GROUP BY 1, 2 ORDER BY 1, 2;

-- the embedded scan itself: owner exclusion, summary exclusion
SELECT s.owner, s.content FROM osv.search_embedded(osv.embed_text('the cell membrane'), 2,
	exclude_user_id => (SELECT id FROM u WHERE name = 'ada')) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT s.owner, s.content FROM osv.search_embedded(osv.embed_text('a duplicate summary text'), 1,
	exclude_summary_id => (SELECT min(id) FROM s WHERE content LIKE 'a duplicate%')) WITH ORDINALITY r(summary_id, score, rank) JOIN s ON s.id = r.summary_id ORDER BY r.rank;
SELECT osv.embedding_centroid(ARRAY[[3, 0], [0, 1]]::real[]) AS centroid,
       osv.embedding_centroid(ARRAY[[1, 0], [-1, 0]]::real[]) IS NULL AS cancelled,
       osv.embedding_centroid('{}') IS NULL AS empty;

-- it reads osv.summaries with the caller's rights, and refuses row-level security
-- (osv_app searches through osv.search_summaries(), which runs as the owner)
CREATE ROLE osv_search_reader;
GRANT USAGE ON SCHEMA osv TO osv_search_reader;
GRANT EXECUTE ON FUNCTION osv.embed_text(text), osv.search_embedded(real[], integer, bigint, text, bigint, bigint)
	TO osv_search_reader;
SET ROLE osv_search_reader;
SELECT * FROM osv.search_embedded(osv.embed_text('cell'), 1);
RESET ROLE;
GRANT SELECT ON osv.summaries TO osv_search_reader;
ALTER TABLE osv.summaries ENABLE ROW LEVEL SECURITY;
SET ROLE osv_search_reader;
SELECT * FROM osv.search_embedded(osv.embed_text('cell'), 1);
RESET ROLE;
ALTER TABLE osv.summaries DISABLE ROW LEVEL SECURITY;
SET ROLE osv_search_reader;
SELECT count(*) AS found FROM osv.search_embedded(osv.embed_text('cell'), 1);
RESET ROLE;
ALTER TABLE osv.summaries ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON osv.summaries FROM osv_search_reader;
REVOKE ALL ON FUNCTION osv.embed_text(text), osv.search_embedded(real[], integer, bigint, text, bigint, bigint)
	FROM osv_search_reader;
REVOKE ALL ON SCHEMA osv FROM osv_search_reader;
DROP ROLE osv_search_reader;

-- while Qdrant cannot answer, the searches answer from the in-database scan
-- with the same results (osv.search_fallback, on by default), say so with a
-- NOTICE and count it in osv.vector_sync_status; off: the error
CREATE TEMP VIEW answers AS
SELECT 'search' AS call, r.summary_id, r.score FROM osv.search_summaries(osv.embed_text('the cell membrane'), 5) r
UNION ALL
SELECT 'bob', r.summary_id, r.score FROM osv.search_summaries(osv.embed_text('the cell membrane'), 3, (SELECT id FROM u WHERE name = 'bob')) r
UNION ALL
SELECT 'history', r.summary_id, r.score FROM osv.search_summaries(osv.embed_text('the french revolution'), 10, topic => 'history') r
UNION ALL
SELECT 'similar', r.summary_id, r.score FROM osv.similar_summaries((SELECT id FROM s WHERE content LIKE 'photosynthesis turns%'), 3) r;
CREATE TEMP TABLE embedded_answers AS TABLE answers;
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), 3) AS stored;
CREATE TEMP TABLE embedded_recs AS SELECT summary_id, score FROM osv.recommendations
WHERE user_id = (SELECT id FROM u WHERE name = 'ada') AND revoked_at IS NULL;
SELECT search_fallbacks AS fallbacks_before FROM osv.vector_sync_status \gset
ALTER SYSTEM SET osv.qdrant_url = 'http://127.0.0.1:9';
ALTER SYSTEM SET osv.qdrant_connect_timeout = '200ms';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
\set VERBOSITY terse
CREATE TEMP TABLE fallback_answers AS TABLE answers;
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), 3) AS stored;
SELECT call, count(*) AS answers FROM fallback_answers GROUP BY call ORDER BY call;
SELECT count(*) AS differences FROM ((TABLE embedded_answers EXCEPT TABLE fallback_answers) UNION ALL (TABLE fallback_answers EXCEPT TABLE embedded_answers)) d;
SELECT count(*) AS recommendation_differences FROM (
	(SELECT summary_id, score FROM osv.recommendations WHERE user_id = (SELECT id FROM u WHERE name = 'ada') AND revoked_at IS NULL
	 EXCEPT TABLE embedded_recs)
	UNION ALL
	(TABLE embedded_recs EXCEPT
	 SELECT summary_id, score FROM osv.recommendations WHERE user_id = (SELECT id FROM u WHERE name = 'ada') AND revoked_at IS NULL)) d;
SELECT search_fallbacks - :fallbacks_before AS fallbacks, last_search_fallback_at > now() - interval '1 minute' AS recent
FROM osv.vector_sync_status;
-- while the sync target backs off, the NOTICE's detail names the target's
-- last error only to those who may read the sync status (not osv_app)
UPDATE osv.vector_sync_targets SET retry_at = '2999-01-01 00:00:00+00', last_error = 'could not reach Qdrant (test)'
 WHERE target = 'qdrant';
SELECT id AS ada_id FROM u WHERE name = 'ada' \gset
CREATE ROLE osv_search_app;
GRANT osv_app TO osv_search_app;
\set VERBOSITY default
SELECT count(*) AS answers FROM osv.search_summaries(osv.embed_text('the cell membrane'), 5);
SET ROLE osv_search_app;
SET osv.acting_user_id = :ada_id;
SELECT count(*) AS answers FROM osv.search_summaries(osv.embed_text('the cell membrane'), 5);
RESET osv.acting_user_id;
RESET ROLE;
\set VERBOSITY terse
DROP ROLE osv_search_app;
UPDATE osv.vector_sync_targets SET retry_at = NULL, last_error = NULL WHERE target = 'qdrant';
-- trashed content stays out of the fallback's answers too
UPDATE osv.summaries SET deleted_at = now() WHERE content LIKE 'quantum%';
SELECT count(*) AS trashed_found FROM osv.search_summaries(osv.embed_text('quantum mechanics napoleon'), 1000) r JOIN s ON s.id = r.summary_id
WHERE s.content LIKE 'quantum%';
UPDATE osv.summaries SET deleted_at = NULL WHERE content LIKE 'quantum%';
SET osv.search_fallback = off;
SELECT * FROM osv.search_summaries(osv.embed_text('the cell membrane'), 5);
SELECT * FROM osv.similar_summaries((SELECT id FROM s WHERE content LIKE 'photosynthesis turns%'), 3);
SELECT osv.refresh_recommendations((SELECT id FROM u WHERE name = 'ada'), 3) AS stored;
RESET osv.search_fallback;
\set VERBOSITY default
ALTER SYSTEM RESET osv.qdrant_url;
ALTER SYSTEM RESET osv.qdrant_connect_timeout;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
TRUNCATE osv.vector_outbox;
