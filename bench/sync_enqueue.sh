#!/usr/bin/env bash
# bench/sync_enqueue.sh: what the transactional outbox costs the writers.
#
# Insert rate of summaries with a 384-dimension embedding (a document and
# its summary per transaction, pgbench, one client, SECONDS_PER_ROUND s per
# round, median of ROUNDS rounds, sides alternating):
#   off:     osv.qdrant_url empty (embedded mode, nothing is enqueued);
#   on:      osv.qdrant_url set, every insert enqueues in the same
#            transaction and wakes the worker at commit, the worker held
#            back (target backoff) so that only the enqueue is measured;
#   on+sync: the same with the worker draining the outbox to the test
#            server in --sink mode at the same time (on 2 cores it competes
#            with the writer for CPU, so this is the whole-system figure).
# Target: on / off >= 0.8.
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-10}

bench_start sync_enqueue.sh "osv.vector_sync_worker = on
osv.vector_dimensions = 384"

bench_start_sink
URL=$BENCH_SINK_URL

EMBEDDING=$(python3 -c 'import random; random.seed(1); print("{" + ",".join("%.6f" % random.uniform(-1, 1) for _ in range(384)) + "}")')
bench_psql -q <<SQL
INSERT INTO osv.users (auth0_id, email)
SELECT 'auth0|e' || g, 'e' || g || '@example.org' FROM generate_series(1, 100) g;
CREATE SEQUENCE bench_keys;
CREATE FUNCTION bench_embedding() RETURNS real[] LANGUAGE sql IMMUTABLE
	AS \$\$ SELECT '$EMBEDDING'::real[] \$\$;
SQL

cat >"$BENCH_DIR/insert.pgbench" <<'SQL'
\set u random(1, 100)
WITH d AS (INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
           VALUES (:u, 'pdf', 'bench', 'bench-docs', 'e' || :client_id || '-' || nextval('bench_keys')) RETURNING id)
INSERT INTO osv.summaries (document_id, user_id, topic, content, embedding)
SELECT id, :u, 'topic', 'a summary of the bench document', bench_embedding() FROM d;
SQL

# Wait for the worker (it starts before database "bench" exists and retries).
until [ "$(bench_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'osv vector sync'")" = 1 ]; do
	sleep 0.5
done

setup_side() {
	local side="$1"
	case "$side" in
		off) bench_psql -q -c "ALTER SYSTEM RESET osv.qdrant_url" ;;
		on) bench_psql -q -c "ALTER SYSTEM SET osv.qdrant_url = '$URL'" \
				-c "UPDATE osv.vector_sync_targets SET synced_url = '$URL|osv_summaries', retry_at = now() + interval '1 day'" ;;
		on+sync) bench_psql -q -c "ALTER SYSTEM SET osv.qdrant_url = '$URL'" \
				-c "UPDATE osv.vector_sync_targets SET synced_url = '$URL|osv_summaries', retry_at = NULL" ;;
	esac
	bench_psql -q -c 'SELECT pg_reload_conf()' -c 'TRUNCATE osv.vector_outbox' -c 'CHECKPOINT' >/dev/null
	sleep 0.5
}

for side in off on on+sync; do : >"$BENCH_DIR/$side.txt"; done
for round in $(seq 1 "$ROUNDS"); do
	for side in off on on+sync; do
		setup_side "$side"
		tps=$(bench_pgbench -n -c 1 -T "$SECONDS_PER_ROUND" -f "$BENCH_DIR/insert.pgbench" |
			sed -n 's/^tps = \([0-9.]*\).*/\1/p')
		echo "$tps" >>"$BENCH_DIR/$side.txt"
		osv_log "round $round, $side: $tps inserts/s"
	done
done
off=$(bench_median <"$BENCH_DIR/off.txt")
on=$(bench_median <"$BENCH_DIR/on.txt")
sync=$(bench_median <"$BENCH_DIR/on+sync.txt")
awk -v off="$off" -v on="$on" -v sync="$sync" 'BEGIN {
	printf "enqueue cost, document + summary with a 384-dim embedding per transaction, 1 client, median:\n"
	printf "  sync off (embedded mode):         %8.1f inserts/s\n", off
	printf "  sync on (enqueue, worker held):   %8.1f inserts/s  ratio %.2f (target >= 0.8)\n", on, on / off
	printf "  sync on, worker draining to sink: %8.1f inserts/s  ratio %.2f\n", sync, sync / off
}'
