-- bench/search.sql: time exact top-10 searches, osv's embedded search
-- against the same exact search written in plain SQL, in one session.
-- psql variables: queries (osv searches, default 100), sql_queries (plain
-- SQL searches, default 5).  Run after bench/search_setup.sql.
\if :{?queries}
\else
\set queries 100
\endif
\if :{?sql_queries}
\else
\set sql_queries 5
\endif
SELECT greatest(:queries, :sql_queries) AS query_count \gset
\ir search_queries.sql
CREATE TEMP TABLE timings (engine text, n integer, ms float8, top integer[]);
-- CPU time of this backend (user + system, in clock ticks of 1/100 s), from
-- /proc: unlike the wall clock it leaves out the time spent waiting for a
-- CPU on a busy machine.
CREATE FUNCTION pg_temp.cpu_ticks() RETURNS bigint LANGUAGE sql AS $$
	SELECT f[12]::bigint + f[13]::bigint
	FROM (SELECT string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) x
$$;
CREATE TEMP TABLE cpu (engine text, queries integer, ticks bigint);

-- warm-up: the table into shared buffers
SELECT count(*) AS warm_up FROM osv.search_summaries((SELECT v FROM queries WHERE n = 1), 10);
SELECT count(*) AS warm_up FROM osv.search_summaries((SELECT v FROM queries WHERE n = 2), 10);

-- osv.search_summaries: the public function (PL/pgSQL dispatch + C scan)
DO $$
DECLARE
	r record;
	t0 timestamptz;
	top integer[];
BEGIN
	INSERT INTO cpu VALUES ('osv', current_setting('bench.queries')::integer, -pg_temp.cpu_ticks());
	FOR r IN SELECT * FROM queries WHERE n <= current_setting('bench.queries')::integer ORDER BY n LOOP
		t0 := clock_timestamp();
		SELECT array_agg(summary_id) INTO top FROM osv.search_summaries(r.v, 10);
		INSERT INTO timings VALUES ('osv', r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
	END LOOP;
	UPDATE cpu SET ticks = ticks + pg_temp.cpu_ticks() WHERE engine = 'osv';
END
$$;

-- the same exact search in plain SQL: cosine by unnest/sum, top 10 by sort
DO $$
DECLARE
	r record;
	t0 timestamptz;
	top integer[];
BEGIN
	INSERT INTO cpu VALUES ('sql', current_setting('bench.sql_queries')::integer, -pg_temp.cpu_ticks());
	FOR r IN SELECT * FROM queries WHERE n <= current_setting('bench.sql_queries')::integer ORDER BY n LOOP
		t0 := clock_timestamp();
		SELECT array_agg(id) INTO top FROM (
			SELECT s.id
			FROM osv.summaries s,
				 LATERAL (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b)) AS score
						  FROM unnest(s.embedding, r.v) t(a, b)) c
			WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL
			ORDER BY c.score DESC, s.id
			LIMIT 10) x;
		INSERT INTO timings VALUES ('sql', r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
	END LOOP;
	UPDATE cpu SET ticks = ticks + pg_temp.cpu_ticks() WHERE engine = 'sql';
END
$$;

-- both found the same ten summaries in the same order
SELECT count(*) AS compared, bool_and(o.top = s.top) AS same_results
FROM timings o JOIN timings s ON s.n = o.n AND s.engine = 'sql' WHERE o.engine = 'osv';

SELECT engine, count(*) AS queries,
	   round(avg(ms)::numeric, 2) AS mean_ms,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS median_ms,
	   round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p95_ms,
	   round(min(ms)::numeric, 2) AS min_ms
FROM timings GROUP BY engine ORDER BY engine;
SELECT round(((SELECT avg(ms) FROM timings WHERE engine = 'sql') /
			  (SELECT avg(ms) FROM timings WHERE engine = 'osv'))::numeric, 1) AS speedup_mean,
	   round(((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings WHERE engine = 'sql') /
			  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings WHERE engine = 'osv'))::numeric, 1) AS speedup_median;

-- CPU time of this backend per query (the plain-SQL figure leaves out its
-- parallel workers, if any ran)
SELECT engine, round(ticks * 10.0 / queries, 1) AS backend_cpu_ms_per_query FROM cpu ORDER BY engine;
-- the plain-SQL plan (a Gather would mean parallel workers helped it)
EXPLAIN (COSTS OFF)
SELECT s.id
FROM osv.summaries s,
	 LATERAL (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b)) AS score
			  FROM unnest(s.embedding, (SELECT v FROM queries WHERE n = 1)) t(a, b)) c
WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL
ORDER BY c.score DESC, s.id
LIMIT 10;

-- for information: one user's memory (about 100 summaries, through the user_id index)
DO $$
DECLARE
	r record;
	t0 timestamptz;
	top integer[];
BEGIN
	FOR r IN SELECT * FROM queries WHERE n <= current_setting('bench.queries')::integer ORDER BY n LOOP
		t0 := clock_timestamp();
		SELECT array_agg(summary_id) INTO top
		FROM osv.search_summaries(r.v, 10, (SELECT id FROM osv.users ORDER BY id OFFSET r.n % 1000 LIMIT 1));
		INSERT INTO timings VALUES ('osv, user filter', r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
	END LOOP;
END
$$;
SELECT engine, count(*) AS queries, round(avg(ms)::numeric, 3) AS mean_ms
FROM timings WHERE engine = 'osv, user filter' GROUP BY engine;
