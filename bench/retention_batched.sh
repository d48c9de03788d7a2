#!/usr/bin/env bash
# bench/retention_batched.sh: a purge of ROWS (1,000,000) trashed rows by the
# one-transaction function, SELECT osv.purge_trashed('30 days'), against
# the committing procedure, CALL osv.run_job_batched('purge_trashed',
# '30 days'), with osv.retention_batch_size = BATCH (10,000).
#
# For each: the wall time of the purge; the longest transaction of the
# purging session (how long its row locks are held: every row it deletes
# stays locked until its transaction ends), sampled every 10 ms from
# pg_stat_activity.xact_start; the most locks it held at once in pg_locks
# (relation and advisory locks; row locks live in the rows, and their
# number is the rows deleted by one transaction); and the lock waits a
# concurrent client sees: pgbench at RATE (50) tx/s locking a random one of
# the trashed rows FOR UPDATE (as a restore does), p99 and max latency.
# Prints the ratios procedure/function.  Each side purges a fresh copy of
# the same data (CREATE DATABASE ... TEMPLATE).
. "$(dirname "$0")/lib.sh"
bench_start retention_batched.sh "max_locks_per_transaction = 256"

ROWS=${ROWS:-1000000}
BATCH=${BATCH:-10000}
RATE=${RATE:-50}
work="$BENCH_DIR"
psql() { "$BENCH_BIN/psql" -X -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }

osv_log "loading $ROWS trashed rooms"
psql -q -d bench <<SQL
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|b' || g, 'b' || g || '@example.org' FROM generate_series(1, 100) g;
INSERT INTO osv.rooms (user_id, name, last_activity_at, deleted_at)
SELECT 1 + g % 100, 'room ' || g, now() - interval '50 days', now() - interval '40 days'
FROM generate_series(1, $ROWS) g;
CREATE TABLE bench_done (side text);
SQL
psql -q -d bench -c 'VACUUM (ANALYZE, FREEZE)' -c 'CHECKPOINT'
psql -q -d postgres -c 'CREATE DATABASE bench_function TEMPLATE bench' -c 'CREATE DATABASE bench_procedure TEMPLATE bench'

cat >"$work/probe.sql" <<SQL
\set id random(1, $ROWS)
SELECT 1 FROM osv.rooms WHERE id = :id FOR UPDATE;
SQL

# The sampler: every 10 ms, the age of the purger's transaction and its
# number of locks in pg_locks, until bench_done has a row.
cat >"$work/sampler.sql" <<'SQL'
DO $$
DECLARE
	max_xact interval := '0';
	max_locks bigint := 0;
	x interval;
	l bigint;
	samples integer := 0;
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT clock_timestamp() - a.xact_start, (SELECT count(*) FROM pg_locks k WHERE k.pid = a.pid)
		  INTO x, l
		  FROM pg_stat_activity a WHERE a.application_name = 'purger' AND a.state = 'active';
		IF FOUND THEN
			max_xact := greatest(max_xact, x);
			max_locks := greatest(max_locks, l);
			samples := samples + 1;
		END IF;
		EXIT WHEN EXISTS (SELECT FROM bench_done);
		PERFORM pg_sleep(0.01);
	END LOOP;
	RAISE NOTICE 'RESULT % % %', extract(epoch FROM max_xact), max_locks, samples;
END
$$;
SQL

# run SIDE DB SQL: prints "wall max_xact_s max_locks probe_p99_ms probe_max_ms probes"
run() {
	local side="$1" db="$2" sql="$3" start end sampler probe
	psql -q -d "$db" -f "$work/sampler.sql" 2>"$work/sampler_$side.txt" &
	sampler=$!
	rm -f "$work"/probe_log.*
	(cd "$work" && "$BENCH_BIN/pgbench" -n -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres -c 2 -j 2 -R "$RATE" -T 3600 \
		-f "$work/probe.sql" --log --log-prefix="$work/probe_log" "$db" >"$work/probe_$side.out" 2>&1) &
	probe=$!
	sleep 2
	start=$(now)
	PGAPPNAME=purger psql -q -d "$db" -c "SET osv.retention_batch_size = $BATCH" -c "$sql" >"$work/purge_$side.out"
	end=$(now)
	psql -q -d "$db" -c "INSERT INTO bench_done VALUES ('$side')"
	wait $sampler
	sleep 1
	psql -q -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgbench'" >/dev/null
	wait $probe || true
	local sampled
	sampled=$(grep -o 'RESULT .*' "$work/sampler_$side.txt" | cut -d' ' -f2-)
	cat "$work"/probe_log.* | python3 -c '
import sys
start, end = float(sys.argv[1]), float(sys.argv[2])
lat = []
for line in sys.stdin:
    f = line.split()
    if len(f) < 6 or f[2] == "skipped":
        continue
    l = int(f[2]) / 1000.0
    done = int(f[4]) + int(f[5]) / 1e6
    if done >= start and done - l / 1000.0 <= end:
        lat.append(l)
lat.sort()
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
print("%.3f %s %.2f %.2f %d" % (end - start, sys.argv[3], p99, lat[-1] if lat else float("nan"), len(lat)))
' "$start" "$end" "$sampled"
}

osv_log "purge by the function: SELECT osv.purge_trashed('30 days')"
f=$(run function bench_function "SELECT osv.purge_trashed('30 days')")
osv_log "purge by the procedure: CALL osv.run_job_batched('purge_trashed', '30 days')"
p=$(run procedure bench_procedure "CALL osv.run_job_batched('purge_trashed', '30 days')")
purged_f=$(psql -At -d bench_function -c "SELECT affected FROM osv.job_runs WHERE job = 'purge_trashed'")
purged_p=$(psql -At -d bench_procedure -c "SELECT affected FROM osv.job_runs WHERE job = 'purge_trashed'")

python3 - "$f" "$p" "$ROWS" "$BATCH" "$purged_f" "$purged_p" <<'PY'
import sys
f = sys.argv[1].split(); p = sys.argv[2].split()
rows, batch = int(sys.argv[3]), int(sys.argv[4])
names = ["wall time (s)", "longest purge transaction = row lock hold (s)", "locks in pg_locks at once (max)",
         "sampler samples", "probe lock wait p99 (ms)", "probe lock wait max (ms)", "probes"]
# run() prints: wall max_xact max_locks samples p99 max probes
print("purge of %d trashed rooms, osv.retention_batch_size = %d" % (rows, batch))
print("  rows deleted: function %s, procedure %s" % (sys.argv[5], sys.argv[6]))
print("  %-48s %12s %12s %10s" % ("", "function", "procedure", "proc/func"))
for i, n in enumerate(names):
    a, b = float(f[i]), float(p[i])
    print("  %-48s %12.3f %12.3f %10.3f" % (n, a, b, b / a if a else float("nan")))
nb = -(-rows // batch)
print("  row locks held at once: function %d (one transaction), procedure <= %d (one batch)" % (rows, batch))
print("  wall time per batch (procedure): %.3f s over %d batches" % (float(p[0]) / nb, nb))
PY
