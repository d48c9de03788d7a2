#!/usr/bin/env bash
# bench/sync_latency.sh: commit-to-arrival latency of the vector sync.
#
# One pgbench client commits a document and its summary (384 dimensions)
# in one statement at RATE (50) per second, N (500) times, while the vector
# sync worker sends them to the Qdrant test server in --sink mode.  The
# latency of a summary runs from the commit of its transaction
# (pg_xact_commit_timestamp, track_commit_timestamp = on) to the arrival of
# the request carrying it at the test server (the time it logged when the
# request's headers were read; same machine, same clock).  Summaries are
# matched to requests in order (the worker claims them in the order they
# were enqueued); a request carries body size / the smallest body's size
# points (a busy worker may take two commits in one batch); the script
# checks that the counts add up to N.  Prints p50, p99 and max.  Target:
# p99 < 10 ms on an idle machine.
. "$(dirname "$0")/lib.sh"

N=${N:-500}
RATE=${RATE:-50}

bench_start sync_latency.sh "osv.vector_sync_worker = on
osv.vector_dimensions = 384
track_commit_timestamp = on"

bench_start_sink
URL=$BENCH_SINK_URL

bench_psql -q <<SQL
INSERT INTO osv.users (auth0_id, email) VALUES ('auth0|lat', 'lat@example.org');
ALTER SYSTEM SET osv.qdrant_url = '$URL';
SELECT pg_reload_conf();
SQL
# The worker creates the collection and marks the target synced.
until [ "$(bench_psql -At -c "SELECT synced_url IS NOT NULL FROM osv.vector_sync_targets")" = t ]; do
	sleep 0.2
done
curl -s -X DELETE "$URL/__test/requests" >/dev/null

cat >"$BENCH_DIR/insert.sql" <<'SQL'
WITH d AS (
	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
	VALUES (1, 'text', 'latency', 'bench-docs', 'lat/' || pg_catalog.clock_timestamp())
	RETURNING id)
INSERT INTO osv.summaries (document_id, topic, content, embedding)
SELECT d.id, 'latency', 'summary', (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 384))
  FROM d;
SQL
osv_log "committing $N summaries at $RATE/s"
bench_pgbench -n -c 1 -R "$RATE" -t "$N" -f "$BENCH_DIR/insert.sql" >"$BENCH_DIR/pgbench.out" 2>&1
until [ "$(bench_psql -At -c 'SELECT count(*) FROM osv.vector_outbox')" = 0 ]; do
	sleep 0.2
done

bench_psql -At -c "SELECT pg_catalog.date_part('epoch', pg_xact_commit_timestamp(xmin)) FROM osv.summaries ORDER BY id" \
	>"$BENCH_DIR/commits.txt"
curl -s "$URL/__test/requests" | python3 -c '
import json, sys
data = json.load(sys.stdin)
entries = data["result"]
puts = [e for e in entries if e["method"] == "PUT" and e["path"].endswith("/points")]
one = min(e["body_size"] for e in puts)
for e in puts:
    for _ in range(max(1, round(e["body_size"] / one))):
        print("%.6f" % e["time"])
' >"$BENCH_DIR/arrivals.txt"
commits=$(wc -l <"$BENCH_DIR/commits.txt")
arrivals=$(wc -l <"$BENCH_DIR/arrivals.txt")
if [ "$commits" != "$arrivals" ]; then
	echo "cannot match: $commits commits, $arrivals points in upsert requests" >&2
	exit 1
fi
paste "$BENCH_DIR/commits.txt" "$BENCH_DIR/arrivals.txt" |
	awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' | sort -g >"$BENCH_DIR/latency.txt"
awk -v n="$N" -v r="$RATE" '{ v[NR] = $1 } END {
	p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
	printf "commit-to-arrival latency, %d summaries x 384 dims committed at %d/s, one a transaction:\n", n, r
	printf "  p50 %.2f ms  p99 %.2f ms  max %.2f ms (target: p99 < 10 ms)\n", p50, p99, v[NR]
}' "$BENCH_DIR/latency.txt"
