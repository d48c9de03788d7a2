#!/usr/bin/env bash
# bench/reconcile.sh: the streamed reconcile (issue 15, item 4).
#
# Syncs N (100,000) summaries of 384 random normalised dimensions to the
# Qdrant test server (test/qdrant/qdrant_server.py, which scrolls like
# Qdrant), makes 1% of the points differ (deleted behind osv's back,
# orphans, stale payloads), then reconciles:
#   sql        SELECT osv.vector_reconcile() in a backend;
#   scheduler  the "osv scheduler" worker's run (osv.reconcile_interval),
#              recorded in osv.job_runs.
# For each: the wall time, the rate in points read per second, and the peak
# resident memory of the process that ran it (VmHWM of /proc/<pid>/status,
# before and after; the counter is reset between runs through
# /proc/<pid>/clear_refs where the kernel allows it).  Memory must not grow
# with N: the script repeats the SQL run with N/10 points first (the
# baseline), so the two peaks can be compared.  shared_buffers is 64MB so
# that the shared pages a process touches (part of its RSS) stay bounded
# and comparable.
#
#   bench/reconcile.sh [N]      default 100000

. "$(dirname "$0")/lib.sh"
bench_start reconcile.sh "shared_buffers = '64MB'
osv.vector_sync_worker = on
osv.scheduler_worker = on
osv.reconcile_interval = '30 days'
osv.vector_sync_batch_size = 500" "$@"

n=${1:-100000}
dir="$BENCH_DIR/qdrant"
mkdir -p "$dir"
python3 "$OSV_ROOT/test/qdrant/qdrant_server.py" --port 0 --port-file "$dir/port" >"$dir/out" 2>&1 &
BENCH_SINK_PID=$!
for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$dir/port")"
q() { curl -s -X "$1" -H 'Content-Type: application/json' "$url$2" ${3:+-d "$3"}; }

hwm() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

drained() {
	until [ "$(bench_psql -qAt -c 'SELECT pending + in_flight FROM osv.vector_sync_status')" = 0 ]; do sleep 1; done
}

load() {
	local rows="$1"
	bench_psql -q -c "TRUNCATE osv.summaries, osv.documents, osv.users CASCADE" -c "ALTER SYSTEM SET osv.qdrant_url = '$url'" \
		-c "SELECT pg_reload_conf()" >/dev/null
	osv_log "loading and syncing $rows summaries"
	bench_psql -q -v rows="$rows" -f "$OSV_ROOT/bench/search_setup.sql" >/dev/null
	drained
}

# Make 1% of the points differ: deleted behind osv's back, orphans, stale
# payloads (a third each); prints how many.
perturb() {
	local rows="$1" k ids
	k=$((rows / 300))
	drained
	ids=$(bench_psql -qAt -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM osv.summaries WHERE deleted_at IS NULL ORDER BY id LIMIT $k) s")
	q POST '/collections/osv_summaries/points/delete?wait=true' "{\"points\":[$ids]}" >/dev/null
	ids=$(bench_psql -qAt -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM osv.summaries WHERE deleted_at IS NULL ORDER BY id DESC LIMIT $k) s")
	q POST '/collections/osv_summaries/points/payload?wait=true' "{\"payload\":{\"version\":1},\"points\":[$ids]}" >/dev/null
	bench_psql -qAt -c "SELECT '{\"points\":[' || string_agg(format('{\"id\":%s,\"vector\":%s,\"payload\":{\"user_id\":1}}', 100000000 + g,
			(SELECT array_to_json(embedding) FROM osv.summaries WHERE deleted_at IS NULL LIMIT 1)), ',') || ']}' FROM generate_series(1, $k) g" >"$dir/orphans"
	curl -s -X PUT -H 'Content-Type: application/json' "$url/collections/osv_summaries/points?wait=true" --data-binary @"$dir/orphans" >/dev/null
	echo $((3 * k))
}

# SELECT osv.vector_reconcile() in a backend; prints "seconds fixed hwm_before hwm_after".
sql_run() {
	bench_psql -qAt -F ' ' <<'SQL'
SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+)'))[1] AS before \gset
SELECT clock_timestamp() AS t0 \gset
SELECT osv.vector_reconcile() AS fixed \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3), :fixed, :before,
	   (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+)'))[1];
SQL
}

# The scheduler's run; prints "seconds fixed hwm_before hwm_after outcome details".
scheduler_run() {
	local pid before last
	pid=$(bench_psql -qAt -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'osv scheduler'")
	reset_hwm "$pid"
	before=$(hwm "$pid")
	last=$(bench_psql -qAt -c "SELECT coalesce(max(id), 0) FROM osv.job_runs WHERE job = 'vector_reconcile'")
	bench_psql -q -c "ALTER SYSTEM SET osv.reconcile_interval = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
	until [ -n "$(bench_psql -qAt -c "SELECT 1 FROM osv.job_runs WHERE job = 'vector_reconcile' AND id > $last")" ]; do sleep 0.5; done
	bench_psql -q -c "ALTER SYSTEM SET osv.reconcile_interval = '30 days'" -c "SELECT pg_reload_conf()" >/dev/null
	bench_psql -qAt -F ' ' -c "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 3), affected, $before, $(hwm "$pid"), outcome, details
		FROM osv.job_runs WHERE job = 'vector_reconcile' AND id > $last ORDER BY id LIMIT 1"
}

report() {
	local name="$1" points="$2" expected="$3" secs fixed before after rest
	read -r secs fixed before after rest <<<"$4"
	awk -v n="$name" -v p="$points" -v s="$secs" -v f="$fixed" -v e="$expected" -v b="$before" -v a="$after" -v r="$rest" \
		'BEGIN { printf "%-22s %7d points %7.2f s %8.0f points/s, fixed %d (made to differ %d), VmHWM %d -> %d kB (+%d) %s\n", n, p, s, p / s, f, e, b, a, a - b, r }' |
		tee -a "$BENCH_DIR/report"
	printf '%s peak RSS kB\t%d\n' "$name" "$after" >>"$tsv"
}

# Peak memory of each run, beside its plot (the first, N/10, is the baseline).
tsv="$OSV_ROOT/bench/plots/reconcile.tsv"
mkdir -p "$(dirname "$tsv")"
: >"$tsv"

small=$((n / 10))
load "$small"
report "sql, N/10 (baseline)" "$small" "$(perturb "$small")" "$(sql_run)"
load "$n"
report "sql, N" "$n" "$(perturb "$n")" "$(sql_run)"
report "scheduler, N" "$n" "$(perturb "$n")" "$(scheduler_run)"
"$OSV_ROOT/bench/plot.sh" reconcile "Streamed reconcile: peak RSS of the process that ran it" "VmHWM (kB)" "$tsv"
