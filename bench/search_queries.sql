-- bench/search_queries.sql: temp table "queries" (n, v) of :query_count
-- query vectors drawn like the data of bench/search_setup.sql (random
-- directions of osv.vector_dimensions dimensions, seed 0.17).  Included
-- by bench/search.sql and bench/scan_loop.sh.
SELECT setseed(0.17);
-- (osv.embed_text also loads osv.so, which defines osv.vector_dimensions)
SELECT array_length(osv.embed_text('dimensions'), 1) AS dims \gset
CREATE TEMP TABLE queries AS
SELECT q AS n,
	   (SELECT array_agg((x / norm)::real ORDER BY i)
		FROM (SELECT i, x, sqrt(sum(x * x) OVER ()) AS norm
			  FROM (SELECT i, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS x
					FROM generate_series(1, :dims) i
					WHERE q IS NOT NULL) g) n) AS v
FROM generate_series(1, :query_count) q;
