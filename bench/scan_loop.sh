#!/usr/bin/env bash
# bench/scan_loop.sh: the exact scan's own heap page loop (scan_heap() in
# src/exact_scan.c) against the table AM's loop (table_beginscan() and
# heap_getnextslot(), as a sequential scan reads), scoring the same rows.
#
# osv is built with -DOSV_BENCH_SCAN_LOOP, which adds the table-AM loop
# behind SET osv_bench.scan_loop = 'tableam'.  100,000 live summaries of
# 384 dimensions (bench/search_setup.sql, about 215 MB, held in 1 GB of
# shared buffers), exact top-10 by osv.search_embedded(); ROUNDS rounds
# (default 6) alternate the two loops, QUERIES (default 30) queries each.
# Prints the median per-query wall time of each loop and the ratio, and
# plots them (bench/plots/scan_loop.svg, bench/plot.sh).
#
#   bench/scan_loop.sh [rows]      default 100000

. "$(dirname "$0")/lib.sh"
OSV_CFLAGS="$OSV_CFLAGS -DOSV_BENCH_SCAN_LOOP"
rows=${1:-100000}
rounds=${ROUNDS:-6}
queries=${QUERIES:-30}

# A normal build must recompile the file without the bench flag.
trap 'rm -f "$OSV_ROOT/src/exact_scan.o"' EXIT
touch "$OSV_ROOT/src/exact_scan.c"
# one backend per search on both sides (no parallel scan, src/parallel_scan.c)
bench_start scan_loop.sh "max_parallel_workers_per_gather = 0" "$@"
trap 'bench_stop; rm -f "$OSV_ROOT/src/exact_scan.o"' EXIT

osv_log "loading $rows summaries"
bench_psql -q -v rows="$rows" -f "$OSV_ROOT/bench/search_setup.sql"
osv_log "alternating $rounds rounds of $queries queries per loop"
{
printf '\\set query_count %s\n' "$queries"
cat "$OSV_ROOT/bench/search_queries.sql"
cat <<'SQL'
CREATE TEMP TABLE timings (loop text, round integer, n integer, ms float8, top bigint[]);
SELECT set_config('bench.rounds', :'rounds', false), set_config('bench.queries', :'queries', false) \g /dev/null
-- warm-up: the table into shared buffers, both loops
SET osv_bench.scan_loop = 'own';
SELECT count(*) AS warm_up FROM osv.search_embedded((SELECT v FROM queries WHERE n = 1), 10, NULL, NULL, NULL, NULL);
SET osv_bench.scan_loop = 'tableam';
SELECT count(*) AS warm_up FROM osv.search_embedded((SELECT v FROM queries WHERE n = 1), 10, NULL, NULL, NULL, NULL);
DO $$
DECLARE
	r record;
	t0 timestamptz;
	top bigint[];
	loop_name text;
BEGIN
	FOR round IN 1 .. current_setting('bench.rounds')::integer LOOP
		FOREACH loop_name IN ARRAY CASE WHEN round % 2 = 1 THEN ARRAY['own', 'tableam'] ELSE ARRAY['tableam', 'own'] END LOOP
			PERFORM set_config('osv_bench.scan_loop', loop_name, false);
			FOR r IN SELECT * FROM queries ORDER BY n LOOP
				t0 := clock_timestamp();
				SELECT array_agg(summary_id) INTO top FROM osv.search_embedded(r.v, 10, NULL, NULL, NULL, NULL);
				INSERT INTO timings VALUES (loop_name, round, r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;
SELECT loop, count(*) AS queries,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS median_ms,
	   round(min(ms)::numeric, 2) AS min_ms
FROM timings GROUP BY loop ORDER BY loop;
SELECT round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings WHERE loop = 'tableam')::numeric
			 / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings WHERE loop = 'own')::numeric, 2)
	   AS tableam_over_own,
	   (SELECT count(*) FROM timings a JOIN timings b ON a.n = b.n AND a.round = b.round
		WHERE a.loop = 'own' AND b.loop = 'tableam' AND a.top IS DISTINCT FROM b.top) AS differing_results;
-- the plot's figures: the table AM's loop is the baseline
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
\o :tsv
SELECT CASE loop WHEN 'tableam' THEN 'table AM loop (heap_getnextslot), median' ELSE 'own page loop (scan_heap), median' END,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
FROM timings GROUP BY loop ORDER BY loop = 'own';
\o
SQL
} | bench_psql -q -v rounds="$rounds" -v queries="$queries" -v tsv="$BENCH_DIR/scan_loop.tsv"
"$OSV_ROOT/bench/plot.sh" scan_loop "Exact top-10 over $rows x 384: the scan's own page loop against the table AM's" \
	"ms per query" "$BENCH_DIR/scan_loop.tsv"
