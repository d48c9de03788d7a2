#!/usr/bin/env bash
# bench/archive.sh: archiving the 90-day-old half of a 180-day activity log,
# by partition (osv.archive_activity_logs) against a row-by-row baseline
# (INSERT INTO archive SELECT ...; DELETE ...) on identical data, and the
# insert latency of a concurrent writer while each runs.
#
#   bench/archive.sh            10,000,000 rows
#   ROWS=1000000 bench/archive.sh
#
# One throwaway cluster (tools/lib.sh).  The data is loaded once into
# database bench_partition and copied to bench_rows (CREATE DATABASE ...
# TEMPLATE), so both methods start from the same files.  The writer is
# pgbench at a fixed rate (open loop, so a stall delays every insert
# scheduled during it), inserting logs of the current day; its latencies
# come from pgbench's per-transaction log.
OSV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$OSV_ROOT/tools/lib.sh"

osv_install_packages
osv_drop_root bench/archive.sh "$@"

ROWS=${ROWS:-10000000}
DAYS=180
USERS=1000
RATE=${RATE:-200}

work="$OSV_ROOT/tmp_check/bench_archive"
rm -rf "$work"
mkdir -p "$work"
osv_build
bin=$(osv_private_install "$OSV_ROOT/tmp_install")
port=$(osv_free_port)
data="$work/data"
conf="$work/bench.conf"
cat >"$conf" <<CONF
shared_preload_libraries = 'osv'
osv.scheduler_worker = off
osv.vector_sync_worker = off
timezone = 'UTC'
shared_buffers = '1GB'
maintenance_work_mem = '256MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
synchronous_commit = off
autovacuum = off
CONF
osv_start_cluster "$data" "$port" "$bin" "$conf"
trap 'osv_stop_cluster "$data" "$bin"' EXIT

psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$data" -p "$port" -U postgres "$@"; }
now() { date +%s.%N; }

osv_log "loading $ROWS activity logs over $DAYS days"
t0=$(now)
psql -d postgres -c 'CREATE DATABASE bench_partition'
psql -d bench_partition <<SQL
CREATE EXTENSION osv;
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|' || g, 'user' || g || '@example.org' FROM generate_series(1, $USERS) g;
SELECT osv.create_activity_log_partitions($DAYS + 1, (now() AT TIME ZONE 'UTC')::date - $DAYS);
CREATE TABLE bench_start AS SELECT now() - interval '$DAYS days' AS t0;
SQL
# Two loaders in parallel; the foreign key checks are skipped while loading
# (session_replication_role = replica): every user_id exists.
load() {
	psql -d bench_partition <<SQL
SET session_replication_role = replica;
INSERT INTO osv.activity_logs (user_id, event_type, occurred_at, properties)
SELECT 1 + i % $USERS, 'bench.event' || i % 20,
	   (SELECT t0 FROM bench_start) + i * (interval '$DAYS days' / $ROWS),
	   jsonb_build_object('i', i)
FROM generate_series($1, $2) i;
SQL
}
half=$((ROWS / 2))
load 0 $((half - 1)) &
load $half $((ROWS - 1)) &
wait
psql -d bench_partition -c 'VACUUM (ANALYZE, FREEZE) osv.activity_logs' -c 'CHECKPOINT'
psql -d postgres -c 'CREATE DATABASE bench_rows TEMPLATE bench_partition'
psql -d postgres -c 'CREATE DATABASE bench_single TEMPLATE bench_partition'
t1=$(now)
osv_log "loaded in $(echo "$t1 - $t0" | bc) s"

cat >"$work/writer.sql" <<'W'
\set uid random(1, 1000)
INSERT INTO osv.activity_logs (user_id, event_type, properties) VALUES (:uid, 'bench.write', '{}');
W

# run_with_writer DB LABEL SQL: run SQL in DB while pgbench writes into DB;
# prints the elapsed time of SQL and the writer's latency percentiles.
run_with_writer() {
	local db="$1" label="$2" sql="$3" start end pid
	rm -f "$work"/pgbench_log.*
	(cd "$work" && "$bin/pgbench" -n -h "$data" -p "$port" -U postgres -c 2 -j 2 -R "$RATE" -T 3600 \
		-f "$work/writer.sql" --log --log-prefix="$work/pgbench_log" "$db" >"$work/pgbench_$label.out" 2>&1) &
	pid=$!
	sleep 3
	start=$(now)
	psql -At -d "$db" -c "$sql" >"$work/$label.out"
	end=$(now)
	sleep 3
	# Ending its connections ends pgbench with its logs complete (SIGINT
	# would lose the buffered lines).
	psql -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgbench'" >/dev/null
	wait $pid || true
	elapsed=$(echo "$end - $start" | bc)
	# pgbench log: client xact latency_us script epoch_s epoch_us [lag_us]
	cat "$work"/pgbench_log.* | python3 -c '
import sys
start, end = float(sys.argv[1]), float(sys.argv[2])
every, during = [], []
for line in sys.stdin:
    f = line.split()
    if len(f) < 6 or f[2] == "skipped":
        continue
    lat = int(f[2]) / 1000.0
    done = int(f[4]) + int(f[5]) / 1e6
    every.append(lat)
    if start <= done - lat / 1000.0 <= end or start <= done <= end:
        during.append(lat)
def pct(a, p):
    a = sorted(a)
    return a[min(len(a) - 1, int(len(a) * p))] if a else float("nan")
print("  writer during the run: %d inserts, p50 %.2f ms, p99 %.2f ms, max %.2f ms"
      % (len(during), pct(during, 0.5), pct(during, 0.99), pct(during, 1)))
print("  writer from 3 s before to 3 s after: %d inserts, p99 %.2f ms" % (len(every), pct(every, 0.99)))
' "$start" "$end" >"$work/latency_$label.txt"
	echo "$elapsed"
}

cutoff="date_trunc('day', (now() - interval '90 days') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
expected=$(psql -At -d bench_partition -c "SELECT count(*) FROM osv.activity_logs WHERE occurred_at < $cutoff")

osv_log "row by row: INSERT INTO archive SELECT ...; DELETE ..."
# The archive needs a partition for those rows; one default partition is the
# cheapest home for the baseline.
psql -d bench_rows -c 'CREATE TABLE osv.activity_logs_archive_all PARTITION OF osv.activity_logs_archive DEFAULT'
rows_time=$(run_with_writer bench_rows rows "
BEGIN;
INSERT INTO osv.activity_logs_archive (id, user_id, event_type, occurred_at, properties, archived_at)
SELECT id, user_id, event_type, occurred_at, properties, now() FROM osv.activity_logs WHERE occurred_at < $cutoff;
DELETE FROM osv.activity_logs WHERE occurred_at < $cutoff;
COMMIT;")
rows_moved=$(psql -At -d bench_rows -c 'SELECT count(*) FROM osv.activity_logs_archive')

osv_log "by partition, one transaction: SELECT osv.archive_activity_logs('90 days')"
single_time=$(run_with_writer bench_single single "SELECT osv.archive_activity_logs('90 days')")
single_moved=$(psql -At -d bench_single -c 'SELECT count(*) FROM osv.activity_logs_archive')

osv_log "by partition, a transaction per partition: CALL osv.archive_activity_logs_stepwise('90 days')"
part_time=$(run_with_writer bench_partition partition "CALL osv.archive_activity_logs_stepwise('90 days')")
part_moved=$(psql -At -d bench_partition -c 'SELECT count(*) FROM osv.activity_logs_archive')
part_returned=$(tail -1 "$work/partition.out")

echo
echo "archive of the logs older than 90 days: $expected of $ROWS rows over $DAYS days; writer: pgbench -R $RATE -c 2"
echo "row by row (INSERT ... SELECT; DELETE):      $rows_time s ($rows_moved rows in the archive)"
cat "$work/latency_rows.txt"
echo "osv.archive_activity_logs() (one transaction): $single_time s ($single_moved rows in the archive)"
cat "$work/latency_single.txt"
echo "CALL osv.archive_activity_logs_stepwise():    $part_time s ($part_moved rows in the archive, returned $part_returned)"
cat "$work/latency_partition.txt"
echo "ratio row by row / one transaction: $(echo "scale=1; $rows_time / $single_time" | bc)"
echo "ratio row by row / stepwise:        $(echo "scale=1; $rows_time / $part_time" | bc)"
