#!/usr/bin/env bash
# bench/sync_throughput.sh: how fast the sync worker moves embeddings to Qdrant.
#
# N summaries (default 100,000) of 384 dimensions go through the vector sync
# worker to the Qdrant-compatible test server in --sink mode (upsert bodies
# are read and discarded), against the baseline: an external syncer in C
# (bench/sync_copy_client.c, built here) that reads the same summaries with
# one binary COPY, writes the same upsert bodies itself and PUTs them, BATCH
# points a request, to the same sink over one kept-alive libcurl handle.
# A third figure is the sink's ceiling: a plain libcurl client
# (bench/sync_client.c) sending the same bodies pre-built.  Rounds
# alternate; the median of each side is kept.  The worker's time runs from
# the reload that points osv.qdrant_url at the sink (the outbox is filled
# beforehand) until the outbox is empty.  Target: the worker drains at
# least 1.5 times as fast as the external syncer.  WORKERS (1) sets
# osv.vector_sync_workers: the pool's CPU time is summed over its workers,
# and each round prints the load average (the machine's other work).
. "$(dirname "$0")/lib.sh"

N=${N:-100000}
BATCH=${BATCH:-256}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1}

bench_start sync_throughput.sh "osv.vector_sync_worker = on
osv.vector_dimensions = 384
osv.vector_sync_batch_size = $BATCH
osv.vector_sync_workers = $WORKERS"

bench_start_sink
URL=$BENCH_SINK_URL

gcc -O2 -o "$BENCH_DIR/sync_client" "$OSV_ROOT/bench/sync_client.c" $(pkg-config --cflags --libs libcurl)
gcc -O2 -Wall -I"$OSV_ROOT/src" -I"$(pg_config --includedir-server)" -I"$(pg_config --includedir)" \
	-o "$BENCH_DIR/sync_copy_client" "$OSV_ROOT/bench/sync_copy_client.c" "$OSV_ROOT/src/json_float.c" \
	-L"$(pg_config --pkglibdir)" -L"$(pg_config --libdir)" -lpq -lpgcommon -lpgport \
	$(pkg-config --cflags --libs libcurl) -lm

osv_log "loading $N summaries of 384 dimensions"
bench_psql -q <<SQL
INSERT INTO osv.users (auth0_id, email)
SELECT 'auth0|s' || g, 's' || g || '@example.org' FROM generate_series(1, 100) g;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT 1 + g % 100, 'text', 'doc ' || g, 'bench-docs', 'sync/' || g FROM generate_series(1, $N) g;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'topic ' || (d.id % 20), 'summary ' || d.id,
	   (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 384) WHERE d.id > 0)
  FROM osv.documents d;
VACUUM ANALYZE;
SQL

# The baseline's bodies: what osv sends, batch by batch.
bench_psql -q <<SQL
COPY (
	SELECT '{"points":[' || string_agg(
		'{"id":' || s.id || ',"vector":[' || array_to_string(s.embedding, ',') || '],"payload":'
		|| json_build_object('summary_id', s.id, 'user_id', s.user_id, 'topic', s.topic,
							 'created_at', to_char(timezone('UTC', s.created_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
							 'version', (random() * 9e18)::bigint)::text || '}', ',' ORDER BY s.id) || ']}'
	  FROM (SELECT s.*, (row_number() OVER (ORDER BY s.id) - 1) / $BATCH AS batch FROM osv.summaries s) s
	 GROUP BY s.batch ORDER BY s.batch
) TO '$BENCH_DIR/bodies.jsonl';
SQL

# Wait for the worker (it starts before database "bench" exists and retries).
until [ "$(bench_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'osv vector sync'")" = "$WORKERS" ]; do
	sleep 0.5
done

worker_round() {
	bench_psql -q <<SQL >/dev/null
ALTER SYSTEM RESET osv.qdrant_url;
SELECT pg_reload_conf();
SELECT pg_sleep(1);
INSERT INTO osv.vector_outbox (summary_id) SELECT id FROM osv.summaries;
UPDATE osv.vector_sync_targets SET synced_url = '$URL|osv_summaries';
ALTER SYSTEM SET osv.qdrant_url = '$URL';
SQL
	# Poll from separate sessions: one long statement would hold back the
	# xmin horizon, so the outbox's dead index entries could never be killed.
	# The poll reads the primary key from its end, where the entries the
	# worker takes last are, so that it costs next to nothing (a scan of the
	# table walks every entry already deleted: 15 ms a poll on a machine of
	# two cores shared with the worker and the sink).
	local t0 t1 pids c0 c1
	pids=$(bench_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'osv vector sync'")
	c0=$(cpu_ticks $pids)
	t0=$(date +%s.%N)
	bench_psql -q -c 'SELECT pg_reload_conf()' >/dev/null
	until [ "$(bench_psql -At -c 'SELECT (SELECT o.summary_id FROM osv.vector_outbox o ORDER BY o.summary_id DESC LIMIT 1) IS NULL')" = t ]; do
		sleep 0.1
	done
	t1=$(date +%s.%N)
	c1=$(cpu_ticks $pids)
	echo "$(( c1 - c0 ))" >>"$BENCH_DIR/worker_cpu.txt"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# CPU time (user + system, clock ticks) of the processes given so far, summed.
cpu_ticks() {
	local pid sum=0
	for pid in "$@"; do
		sum=$(( sum + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") ))
	done
	echo "$sum"
}

client_round() {
	"$BENCH_DIR/sync_copy_client" "host=$BENCH_DIR/data port=$BENCH_PORT user=postgres dbname=bench" \
		"$URL" osv_summaries "$BATCH" 2>>"$BENCH_DIR/client.err" || { cat "$BENCH_DIR/client.err" >&2; exit 1; }
}

prebuilt_round() {
	"$BENCH_DIR/sync_client" "$URL" osv_summaries "$BENCH_DIR/bodies.jsonl" 2>/dev/null
}

: >"$BENCH_DIR/worker.txt"
: >"$BENCH_DIR/worker_cpu.txt"
: >"$BENCH_DIR/client.txt"
: >"$BENCH_DIR/prebuilt.txt"
for round in $(seq 1 "$ROUNDS"); do
	w=$(worker_round)	# first: the worker creates the collection
	c=$(client_round)
	p=$(prebuilt_round)
	echo "$c" >>"$BENCH_DIR/client.txt"
	echo "$w" >>"$BENCH_DIR/worker.txt"
	echo "$p" >>"$BENCH_DIR/prebuilt.txt"
	osv_log "round $round: worker $w s ($(tail -n 1 "$BENCH_DIR/worker_cpu.txt") CPU ticks, $WORKERS worker(s)), external COPY + libcurl syncer $c s, pre-built bodies $p s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
w=$(bench_median <"$BENCH_DIR/worker.txt")
c=$(bench_median <"$BENCH_DIR/client.txt")
p=$(bench_median <"$BENCH_DIR/prebuilt.txt")
hz=$(getconf CLK_TCK)
wcpu=$(awk -v hz="$hz" '{ print $1 / hz }' "$BENCH_DIR/worker_cpu.txt" | bench_median)
failed=$(bench_psql -At -c 'SELECT failed FROM osv.vector_sync_status')
awk -v n="$N" -v w="$w" -v c="$c" -v p="$p" -v f="$failed" -v wc="$wcpu" -v k="$WORKERS" 'BEGIN {
	printf "sync throughput, %d summaries x 384 dims, median of rounds:\n", n
	printf "  external syncer (COPY + libcurl): %8.3f s  %9.0f summaries/s  (baseline)\n", c, n / c
	printf "  osv sync worker(s), %2d:           %8.3f s  %9.0f summaries/s  (worker CPU %.2f s, %.1f us a summary)\n", k, w, n / w, wc, wc * 1e6 / n
	printf "  pre-built bodies (sink ceiling):  %8.3f s  %9.0f summaries/s\n", p, n / p
	printf "  ratio (worker / external syncer rate): %.2f (target >= 1.5); parked entries: %s\n", c / w, f
}'

# The figures beside their plot: the external syncer first (the baseline).
tsv="$OSV_ROOT/bench/plots/sync_throughput.tsv"
mkdir -p "$(dirname "$tsv")"
awk -v n="$N" -v w="$w" -v c="$c" -v p="$p" -v k="$WORKERS" 'BEGIN {
	printf "external syncer (COPY + libcurl), baseline\t%.0f\n", n / c
	printf "osv sync worker%s (pipelined)\t%.0f\n", (k > 1 ? sprintf("s, pool of %d", k) : ""), n / w
	printf "pre-built bodies (sink ceiling)\t%.0f\n", n / p
}' >"$tsv"
"$OSV_ROOT/bench/plot.sh" sync_throughput "Vector sync of $N summaries x 384 dims" "summaries/s (median of rounds)" "$tsv"
