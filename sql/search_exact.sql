--
-- The embedded scan (src/exact_scan.c) against the same exact search in
-- plain SQL, on 2,000 random summaries: live and trashed ones, some without
-- embedding or topic, exact ties (rows sharing an embedding); no filter,
-- a user, a topic (selective: read through summaries_topic_idx; common:
-- read in full), both, and the exclusions.  Then the same searches without
-- the indexes: the same answers, bit for bit.
--
SET client_min_messages = warning;
TRUNCATE osv.users RESTART IDENTITY CASCADE;
RESET client_min_messages;
SELECT setseed(0.31);
INSERT INTO osv.users (auth0_id, email)
SELECT 'auth0|exact' || g, 'exact' || g || '@example.org' FROM generate_series(1, 30) g;
CREATE TEMP TABLE uu AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT uu.id, 'text', 'doc ' || g, 'osv-exact', 'exact/' || g
FROM generate_series(1, 2000) g JOIN uu ON uu.n = 1 + g % 30;
-- ten vectors that every 7th row shares: ties
CREATE TEMP TABLE base AS
SELECT b, (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 384) i WHERE b IS NOT NULL) AS v
FROM generate_series(0, 9) b;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id,
	   CASE WHEN x.g % 41 = 0 THEN NULL WHEN x.g % 3 = 0 THEN 'common' ELSE 'topic ' || x.g % 20 END,
	   'summary ' || x.g,
	   CASE WHEN x.g % 50 = 0 THEN NULL
			WHEN x.g % 7 = 0 THEN (SELECT v FROM base WHERE b = x.g % 10)
			ELSE (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 384) i WHERE x.g IS NOT NULL) END
FROM osv.documents d, LATERAL (SELECT substr(d.title, 5)::integer AS g) x
WHERE d.storage_bucket = 'osv-exact';
-- all-visible pages, then trashed rows (pages no longer all-visible): a
-- document in 13, and user 5 with everything they own
VACUUM (ANALYZE) osv.summaries;
SELECT count(*) > 0 AS trashed FROM (
	SELECT osv.soft_delete('osv.documents', id) FROM osv.documents
	WHERE storage_bucket = 'osv-exact' AND substr(title, 5)::integer % 13 = 0
	UNION ALL
	SELECT osv.soft_delete('osv.users', (SELECT id FROM uu WHERE n = 5))) t;
SELECT count(*) FILTER (WHERE deleted_at IS NULL AND embedding IS NOT NULL) AS searchable,
	   count(*) FILTER (WHERE deleted_at IS NOT NULL) AS trashed,
	   count(*) FILTER (WHERE embedding IS NULL) AS not_embedded
FROM osv.summaries;

-- queries: three of the shared vectors, two random ones
CREATE TEMP TABLE queries AS
SELECT n, CASE WHEN n <= 3 THEN (SELECT v FROM base WHERE b = n)
			   ELSE (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 384) i WHERE n IS NOT NULL) END AS v
FROM generate_series(1, 5) n;
CREATE TEMP TABLE cases (kind text, k integer, user_id bigint, topic text, xs bigint, xu bigint);
INSERT INTO cases VALUES
	('all', 10, NULL, NULL, NULL, NULL),
	('all, k 1000', 1000, NULL, NULL, NULL, NULL),
	('user', 1000, (SELECT id FROM uu WHERE n = 3), NULL, NULL, NULL),
	('trashed user', 10, (SELECT id FROM uu WHERE n = 5), NULL, NULL, NULL),
	('topic', 10, NULL, 'topic 4', NULL, NULL),
	('common topic', 10, NULL, 'common', NULL, NULL),
	('unknown topic', 10, NULL, 'no such topic', NULL, NULL),
	('user and topic', 5, (SELECT id FROM uu WHERE n = 7), 'common', NULL, NULL),
	('exclusions', 10, NULL, NULL, (SELECT min(id) FROM osv.summaries WHERE deleted_at IS NULL AND embedding IS NOT NULL),
	 (SELECT id FROM uu WHERE n = 2));

-- the reference: every eligible summary with its cosine in double precision
CREATE TEMP TABLE cosine AS
SELECT q.n, s.id, s.user_id, s.topic,
	   (SELECT sum(a::float8 * b) / sqrt(sum(a::float8 * a) * sum(b::float8 * b))
		FROM unnest(q.v, s.embedding) t(a, b)) AS score
FROM queries q JOIN osv.summaries s ON s.deleted_at IS NULL AND s.embedding IS NOT NULL;
CREATE TEMP TABLE ref AS
SELECT c.kind, x.n, x.id, x.score
FROM cases c JOIN cosine x
  ON (c.user_id IS NULL OR x.user_id = c.user_id) AND (c.topic IS NULL OR x.topic = c.topic)
 AND (c.xs IS NULL OR x.id <> c.xs) AND (c.xu IS NULL OR x.user_id <> c.xu);

CREATE TEMP TABLE got AS
SELECT c.kind, q.n, e.ord, e.summary_id, e.score
FROM cases c CROSS JOIN queries q,
	 LATERAL osv.search_embedded(q.v, c.k, c.user_id, c.topic, c.xs, c.xu) WITH ORDINALITY e(summary_id, score, ord);
ANALYZE ref, got;

-- per kind: each answer as long as it should be, in order (score, then
-- id), scores within float precision of the reference, nothing better left out
WITH grid AS (SELECT c.kind, c.k, q.n FROM cases c CROSS JOIN queries q),
eligible AS (SELECT kind, n, count(*) AS eligible FROM ref GROUP BY 1, 2),
per AS (SELECT kind, n, count(*) AS cnt, min(score) AS worst FROM got GROUP BY 1, 2),
ordered AS (
	SELECT g.kind, bool_and(g.score < p.score OR (g.score = p.score AND g.summary_id > p.summary_id)) AS ok
	FROM got g JOIN got p ON p.kind = g.kind AND p.n = g.n AND p.ord = g.ord - 1 GROUP BY 1),
scores AS (
	SELECT g.kind, bool_and(abs(g.score - r.score) < 1e-6) AS ok
	FROM got g JOIN ref r ON r.kind = g.kind AND r.n = g.n AND r.id = g.summary_id GROUP BY 1),
missed AS (
	SELECT r.kind, count(*) AS missed
	FROM ref r JOIN per p USING (kind, n)
	LEFT JOIN got g ON g.kind = r.kind AND g.n = r.n AND g.summary_id = r.id
	WHERE g.summary_id IS NULL AND r.score > p.worst + 1e-6 GROUP BY 1)
SELECT grid.kind, coalesce(sum(per.cnt), 0) AS results,
	   bool_and(coalesce(per.cnt, 0) = least(grid.k, coalesce(eligible.eligible, 0))) AS complete,
	   coalesce((SELECT ok FROM ordered o WHERE o.kind = grid.kind), true) AS ordered,
	   coalesce((SELECT ok FROM scores s WHERE s.kind = grid.kind), true) AS scores,
	   coalesce((SELECT missed FROM missed m WHERE m.kind = grid.kind), 0) AS better_left_out
FROM grid LEFT JOIN eligible USING (kind, n) LEFT JOIN per USING (kind, n)
GROUP BY grid.kind ORDER BY 1;

-- ties: a shared vector's rows come first, with one score, lowest ids first
SELECT q.n,
	   (SELECT array_agg(g.summary_id ORDER BY g.ord) FROM got g WHERE g.n = q.n AND g.kind = 'all') =
	   (SELECT array_agg(id ORDER BY id) FROM (
			SELECT s.id FROM osv.summaries s
			WHERE s.deleted_at IS NULL AND s.embedding = q.v ORDER BY s.id LIMIT 10) t) AS lowest_ids_first,
	   (SELECT count(DISTINCT g.score) FROM got g WHERE g.n = q.n AND g.kind = 'all') AS scores
FROM queries q WHERE q.n <= 3 ORDER BY q.n;

-- a selective topic is read through its index, a user's rows through theirs
-- (scans counted in this transaction; earlier counts may not be flushed yet)
BEGIN;
SELECT pg_stat_get_xact_numscans('osv.summaries_topic_idx'::regclass) AS topic_scans,
	   pg_stat_get_xact_numscans('osv.summaries_user_id_created_at_idx'::regclass) AS user_scans \gset
SELECT count(*) AS found FROM osv.search_embedded((SELECT v FROM queries WHERE n = 4), 10, NULL, 'topic 4');
SELECT pg_stat_get_xact_numscans('osv.summaries_topic_idx'::regclass) - :topic_scans AS topic_index_scans,
	   pg_stat_get_xact_numscans('osv.summaries_user_id_created_at_idx'::regclass) - :user_scans AS user_index_scans;
SELECT count(*) AS found FROM osv.search_embedded((SELECT v FROM queries WHERE n = 4), 10, (SELECT id FROM uu WHERE n = 3));
SELECT pg_stat_get_xact_numscans('osv.summaries_topic_idx'::regclass) - :topic_scans AS topic_index_scans,
	   pg_stat_get_xact_numscans('osv.summaries_user_id_created_at_idx'::regclass) - :user_scans AS user_index_scans;
COMMIT;

-- without the indexes (whole-table scans): the same answers, bit for bit
BEGIN;
DROP INDEX osv.summaries_topic_idx, osv.summaries_user_id_created_at_idx;
SELECT count(*) AS compared,
	   count(*) FILTER (WHERE g.summary_id IS DISTINCT FROM e.summary_id OR g.score IS DISTINCT FROM e.score) AS differing
FROM cases c CROSS JOIN queries q
	 CROSS JOIN LATERAL osv.search_embedded(q.v, c.k, c.user_id, c.topic, c.xs, c.xu) WITH ORDINALITY e(summary_id, score, ord)
	 FULL JOIN got g ON g.kind = c.kind AND g.n = q.n AND g.ord = e.ord;
ROLLBACK;
