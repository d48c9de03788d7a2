-- bench/search_grow.sql: grow the data of bench/search_setup.sql to :grow_rows
-- live summaries by copying the live embeddings (summary n + k x 100,000
-- gets the embedding of the n-th), each with a document of its own, over
-- the same users and topics: the scan costs the same per row as with fresh
-- random vectors (which take minutes a 100,000 to make in SQL), the copies
-- only tie.  Run after bench/search_setup.sql.
CREATE TEMP TABLE seed AS
SELECT row_number() OVER (ORDER BY id) AS n, embedding FROM osv.summaries WHERE deleted_at IS NULL;
SELECT count(*) AS seeds FROM seed \gset
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'text', 'document ' || g, 'osv-bench-grow', 'grow/' || g
FROM generate_series(1, :grow_rows - :seeds) g JOIN bench_users u ON u.n = 1 + g % 1000;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'topic ' || d.id % 20, 'summary of document ' || d.id, s.embedding
FROM osv.documents d JOIN seed s ON s.n = 1 + d.id % :seeds
WHERE d.storage_bucket = 'osv-bench-grow';
VACUUM (FREEZE, ANALYZE) osv.documents, osv.summaries;
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS trashed,
	   pg_size_pretty(pg_table_size('osv.summaries')) AS table_size
FROM osv.summaries;
