-- bench/search_setup.sql: 100,000 live summaries of random normalised
-- embeddings (osv.vector_dimensions dimensions), spread over 1,000 users
-- and 20 topics, plus 5,000 trashed ones that a search must skip.
-- psql variable: rows (default 100000).
\if :{?rows}
\else
\set rows 100000
\endif
SELECT setseed(0.42);
INSERT INTO osv.users (auth0_id, email)
SELECT 'auth0|bench' || g, 'bench' || g || '@example.org' FROM generate_series(1, 1000) g;
CREATE TEMP TABLE bench_users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM osv.users;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'text', 'document ' || g, 'osv-bench', 'doc/' || g
FROM generate_series(1, :rows + 5000) g JOIN bench_users u ON u.n = 1 + g % 1000;
-- Gaussian coordinates (Box-Muller), normalised: uniformly random directions.
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'topic ' || d.id % 20, 'summary of document ' || d.id,
	   (SELECT array_agg((x / norm)::real ORDER BY i)
		FROM (SELECT i, x, sqrt(sum(x * x) OVER ()) AS norm
			  FROM (SELECT i, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS x
					FROM generate_series(1, current_setting('osv.vector_dimensions')::integer) i
					WHERE d.id IS NOT NULL) g) n)
FROM osv.documents d WHERE d.storage_bucket = 'osv-bench';
SELECT osv.soft_delete('osv.documents', id) FROM osv.documents
WHERE storage_bucket = 'osv-bench' AND id % 21 = 0 \g /dev/null
VACUUM (FREEZE, ANALYZE) osv.users, osv.documents, osv.summaries;
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS trashed,
	   pg_size_pretty(pg_table_size('osv.summaries')) AS table_size
FROM osv.summaries;
