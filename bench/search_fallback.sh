#!/usr/bin/env bash
# bench/search_fallback.sh: the search fallback (issue 15, item 2).
#
# osv.search_summaries() top-10 over the same 100,000 live summaries of 384
# random normalised dimensions (plus 5,000 trashed; bench/search_setup.sql)
# three ways, in alternating rounds on one throwaway cluster:
#   embedded   osv.qdrant_url empty: the exact scan (the baseline);
#   refused    osv.qdrant_url names a closed port: the query fails, the
#              fallback answers from the same scan (NOTICE, counted);
#   backoff    the sync target is backing off: the fallback answers without
#              asking Qdrant.
# Each round runs QUERIES (30) searches of different query vectors in one
# session; the time per search is measured in the server (clock_timestamp
# around the loop).  Prints the median per-search time of each way over
# ROUNDS (5) rounds and the ratios to embedded (target <= 1.2).
#
#   bench/search_fallback.sh [rows]        default 100000

. "$(dirname "$0")/lib.sh"
# one backend per search (no parallel scan), as when the figures were taken
bench_start search_fallback.sh "shared_buffers = '512MB'
max_parallel_workers_per_gather = 0" "$@"

rows=${1:-100000}
rounds=${ROUNDS:-5}
queries=${QUERIES:-30}

osv_log "loading $rows summaries"
bench_psql -q -v rows="$rows" -f "$OSV_ROOT/bench/search_setup.sql"
bench_psql -q -c "CREATE TABLE bench_queries AS SELECT row_number() OVER (ORDER BY id) AS q, embedding AS v
	FROM osv.summaries WHERE deleted_at IS NULL AND id % 97 = 0 ORDER BY id LIMIT $queries"

set_url() {
	if [ -n "$1" ]; then
		bench_psql -q -c "ALTER SYSTEM SET osv.qdrant_url = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
	else
		bench_psql -q -c "ALTER SYSTEM RESET osv.qdrant_url" -c "SELECT pg_reload_conf()" >/dev/null
	fi
	sleep 0.3
}

# Milliseconds per search of one round (after one warm-up search).
round() {
	bench_psql -qAt -c "SET client_min_messages = warning" -c "
		DO \$\$
		DECLARE
			t0 timestamptz;
			r record;
			n integer := 0;
		BEGIN
			PERFORM count(*) FROM osv.search_summaries((SELECT v FROM bench_queries WHERE q = 1), 10);
			t0 := clock_timestamp();
			FOR r IN SELECT v FROM bench_queries ORDER BY q LOOP
				PERFORM count(*) FROM osv.search_summaries(r.v, 10);
				n := n + 1;
			END LOOP;
			RAISE WARNING 'ms %', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 3);
		END
		\$\$" 2>&1 | sed -n 's/.*ms //p'
}

: >"$BENCH_DIR/embedded"; : >"$BENCH_DIR/refused"; : >"$BENCH_DIR/backoff"
for i in $(seq 1 "$rounds"); do
	set_url ''
	round >>"$BENCH_DIR/embedded"
	set_url 'http://127.0.0.1:9'
	bench_psql -q -c "UPDATE osv.vector_sync_targets SET retry_at = NULL"
	round >>"$BENCH_DIR/refused"
	bench_psql -q -c "UPDATE osv.vector_sync_targets SET retry_at = now() + interval '1 hour', last_error = 'bench'"
	round >>"$BENCH_DIR/backoff"
	osv_log "round $i: embedded $(tail -1 "$BENCH_DIR/embedded") ms, refused $(tail -1 "$BENCH_DIR/refused") ms, backoff $(tail -1 "$BENCH_DIR/backoff") ms"
done
bench_psql -qAt -c "SELECT 'fallbacks counted: ' || search_fallbacks FROM osv.vector_sync_status"

e=$(bench_median <"$BENCH_DIR/embedded")
r=$(bench_median <"$BENCH_DIR/refused")
b=$(bench_median <"$BENCH_DIR/backoff")
echo "median ms per search: embedded $e, fallback (connection refused) $r, fallback (backing off) $b"
awk -v e="$e" -v r="$r" -v b="$b" 'BEGIN { printf "ratio to embedded: refused %.3f, backing off %.3f (target <= 1.2)\n", r / e, b / e }'

mkdir -p "$OSV_ROOT/bench/plots"
# (run as root, this is the work copy: the figures are printed above)
printf 'embedded\t%s\nfallback refused\t%s\nfallback backing off\t%s\n' "$e" "$r" "$b" >"$OSV_ROOT/bench/plots/search_fallback.tsv"
[ ! -x "$OSV_ROOT/bench/plot.sh" ] ||
	"$OSV_ROOT/bench/plot.sh" search_fallback "Search fallback vs embedded exact search (100k x 384)" "ms per search" \
		"$OSV_ROOT/bench/plots/search_fallback.tsv"
