#!/usr/bin/env bash
# bench/search.sh: the embedded exact search against the memory bandwidth
# of this machine (issues 3 and 14).
#
# ROWS (default 100,000) live summaries of osv.vector_dimensions (384)
# random normalised dimensions over 1,000 users and 20 topics, plus 5,000
# trashed ones (bench/search_setup.sql; past 100,000 the others copy those
# embeddings, bench/search_grow.sql), held in shared buffers (sized for
# the table; pg_prewarm before each round).  The baseline is physical:
# bench/membw.c, one process on one core like a search's backend, reading
# the same bytes with the best SIMD loop of the CPU: the embeddings as one
# contiguous float array (ROWS x 384 x 4 bytes: 154 MB at 100,000) and the
# table's size in contiguous bytes.  ROUNDS (default 5) rounds alternate the
# baseline (best of 5 passes) and QUERIES (default 20) exact top-10 searches
# by osv.search_embedded() of each kind: no filter, a topic (a twentieth of
# the rows, through summaries_topic_idx), a user (a thousandth).  Prints the
# best and median per query, their ratios to the baseline's, the load
# average (the machine's other work inflates both sides), and writes the plot
# bench/plots/search_ROWS.svg (bench/plot.sh).  With WORKERS (default 1)
# above 0, each round also runs the searches without filter as a parallel
# scan (src/parallel_scan.c) with WORKERS workers besides the leader, and
# membw reads the floats with WORKERS + 1 threads: the parallel figure is
# given against the one-core baseline, per core used (ratio x cores) and
# against the read on as many cores.  Then, unless SQL_QUERIES is
# 0, the comparison with the same exact search in plain SQL (bench/search.sql,
# the public osv.search_summaries(), identical results).
#
# HUGE_PAGES=on (as root; bench/lib.sh) puts shared buffers in 2 MB huge
# pages (huge_pages = on, the pages reserved for the run and given back),
# membw's arrays likewise (transparent huge pages), and names the plot
# search_ROWS_huge; HUGE_PAGES=off, huge_pages = off (unset: PostgreSQL's
# default, try, which takes huge pages only if enough are free).
#
#   bench/search.sh [rows]      ROUNDS=5 QUERIES=20 SQL_QUERIES=5 WORKERS=1 by default
#
# Numbers, not pass/fail; the machine's other work falls on both sides.

. "$(dirname "$0")/lib.sh"
rows=${1:-100000}
rounds=${ROUNDS:-5}
queries=${QUERIES:-20}
sql_queries=${SQL_QUERIES:-5}
workers=${WORKERS:-1}
# shared buffers for the table (about 2.2 kB a row) with room to spare
sb_mb=$(( rows * 3 / 1000 + 256 ))
[ "$sb_mb" -ge 1024 ] || sb_mb=1024

bench_start search.sh "shared_buffers = '${sb_mb}MB'" "$@"
bench_psql -q -c 'CREATE EXTENSION pg_prewarm'

osv_log "loading $rows summaries"
if [ "$rows" -le 100000 ]; then
	bench_psql -q -v rows="$rows" -f "$OSV_ROOT/bench/search_setup.sql"
else
	# 100,000 random ones, then copies of their embeddings (bench/search_grow.sql)
	cat "$OSV_ROOT/bench/search_setup.sql" "$OSV_ROOT/bench/search_grow.sql" |
		bench_psql -q -v rows=100000 -v grow_rows="$rows" | tail -4
fi
# VACUUM again: an autovacuum running during the first may have kept pages from all-visible
bench_psql -q -c 'VACUUM osv.summaries'
dims=$(bench_psql -Atc "SELECT array_length(osv.embed_text('dimensions'), 1)")
heap_bytes=$(bench_psql -Atc "SELECT pg_relation_size('osv.summaries')")
bench_psql -Atc "SELECT 'rows a page: ' || round(count(*)::numeric / pg_relation_size('osv.summaries') * 8192, 2)
	|| ', table ' || pg_size_pretty(pg_relation_size('osv.summaries'))
	|| ', embeddings ' || pg_size_pretty(count(*) FILTER (WHERE deleted_at IS NULL) * $dims * 4) FROM osv.summaries"
{
	printf '\\set query_count %s\n' "$queries"
	cat "$OSV_ROOT/bench/search_queries.sql"
	echo "CREATE TABLE bench_queries AS SELECT * FROM queries;"
	echo "CREATE TABLE bench_timings (kind text, round integer, n integer, ms float8, top bigint[]);"
} | bench_psql -q >/dev/null

membw="$BENCH_DIR/membw"
gcc -O2 -Wall -I"$OSV_ROOT/src" -I"$(pg_config --includedir-server)" -o "$membw" \
	"$OSV_ROOT/bench/membw.c" "$OSV_ROOT/src/vector_kernel.c" \
	-L"$(pg_config --pkglibdir)" -lpgcommon -lpgport -lm -lpthread
live=$(bench_psql -Atc "SELECT count(*) FROM osv.summaries WHERE deleted_at IS NULL")
if [ "$(bench_huge_pages)" = on ]; then
	membw_pages=huge plot="search_${rows}_huge" pages_title=", 2 MB pages"
else
	membw_pages=4k plot="search_$rows" pages_title=""
fi
bench_psql -Atc "SELECT 'shared memory: huge_pages = ' || current_setting('huge_pages')
	|| ', shared_buffers = ' || current_setting('shared_buffers')"

osv_log "alternating $rounds rounds: memory baseline, then $queries searches of each kind"
uptime
: >"$BENCH_DIR/membw.out"
for round in $(seq 1 "$rounds"); do
	"$membw" "$live" "$dims" "$heap_bytes" 5 $((workers + 1)) "$membw_pages" | tee -a "$BENCH_DIR/membw.out" | grep -v '^#' >&2
	bench_psql -q -v round="$round" -v queries="$queries" -v workers="$workers" -f "$OSV_ROOT/bench/search_round.sql"
done
grep '^#' "$BENCH_DIR/membw.out" | head -2
# best: the best pass of all rounds; median: the median of the rounds' medians
best() { awk -F'\t' -v m="$1" '$1 == m { print $2 }' "$BENCH_DIR/membw.out" | sort -g | head -1; }
median() { awk -F'\t' -v m="$1" '$1 == m { print $3 }' "$BENCH_DIR/membw.out" | bench_median; }
uptime

bench_psql -v fb="$(best floats)" -v fm="$(median floats)" -v hb="$(best heap)" -v hm="$(median heap)" \
	-v pb="$(best pages)" -v pm="$(median pages)" -v kb="$(best kernel)" -v km="$(median kernel)" \
	-v tb="$(best floats_threads)" -v tm="$(median floats_threads)" -v cores=$((workers + 1)) <<'SQL'
\pset footer off
-- over_baseline: time / the embeddings' memory read time (best / best, median / median)
SELECT m AS measure, b AS best_ms, md AS median_ms, round(b / :fb, 2) AS best_over_baseline,
	   round(md / :fm, 2) AS median_over_baseline
FROM (VALUES ('memory: embeddings (contiguous floats), the baseline', :fb::numeric, :fm::numeric, 1),
			 ('memory: table size (contiguous)', :hb, :hm, 2),
			 ('memory: table size as scattered 8 kB pages', :pb, :pm, 3),
			 ('kernel over contiguous floats (no PostgreSQL)', :kb, :km, 4),
			 ('memory: embeddings read by ' || :cores || ' threads on ' || :cores || ' cores', :tb, :tm, 5)) v(m, b, md, o)
UNION ALL
SELECT 'osv.search_embedded, ' || kind, round(min(ms)::numeric, 2),
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	   round(min(ms)::numeric / :fb, 2),
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric / :fm, 2)
FROM bench_timings GROUP BY kind;
-- the parallel scan against the baseline per core used (ratio x cores)
-- and against the same read by as many threads
SELECT 'osv.search_embedded, parallel, ' || :cores || ' processes' AS measure,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric / :fm * :cores, 2) AS median_over_baseline_x_cores,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric / :tm, 2) AS median_over_threaded_read
FROM bench_timings WHERE kind = 'parallel';
-- the parallel scan gave the serial scan's answers
SELECT count(*) AS parallel_searches, count(*) FILTER (WHERE p.top = e.top) AS same_as_serial
FROM bench_timings p JOIN bench_timings e USING (round, n) WHERE p.kind = 'parallel' AND e.kind = 'exact';
-- every round gave the same answers
SELECT count(DISTINCT (kind, n, top)) = count(DISTINCT (kind, n)) AS same_answers_every_round FROM bench_timings;
SQL

tsv="$BENCH_DIR/search.tsv"
{
	printf 'memory read of the embeddings (C, 1 core)\t%s\n' "$(median floats)"
	printf 'memory read, table size\t%s\n' "$(median heap)"
	printf 'memory read, table as scattered 8 kB pages\t%s\n' "$(median pages)"
	[ "$workers" -eq 0 ] || printf 'memory read of the embeddings, %s cores\t%s\n' $((workers + 1)) "$(median floats_threads)"
	bench_psql -At -F $'\t' -c "SELECT 'osv exact top-10, ' || kind,
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
		FROM bench_timings GROUP BY kind ORDER BY array_position('{exact,parallel,topic,user}', kind)"
} >"$tsv"
"$OSV_ROOT/bench/plot.sh" "$plot" \
	"Exact top-10 over $rows x $dims in shared buffers$pages_title against reading the embeddings (medians)" \
	"ms per query" "$tsv"

if [ "$sql_queries" -gt 0 ]; then
	osv_log "osv.search_summaries against the same search in plain SQL ($queries and $sql_queries queries)"
	bench_psql -q -c "ALTER DATABASE bench SET bench.queries = '$queries'" \
		-c "ALTER DATABASE bench SET bench.sql_queries = '$sql_queries'"
	bench_psql -q -v queries="$queries" -v sql_queries="$sql_queries" -f "$OSV_ROOT/bench/search.sql"
fi
