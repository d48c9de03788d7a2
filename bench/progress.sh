#!/usr/bin/env bash
# bench/progress.sh: what osv.progress costs long work.  A purge of ROWS
# (200,000) trashed rooms by CALL osv.run_job_batched('purge_trashed',
# '30 days') in batches of BATCH (10,000), which reports its progress
# (osv.job_backlog() counts the backlog at the start, one
# osv.progress_advance() per batch), against the same CALL in a copy of the
# database where the progress functions and osv.job_backlog() are replaced
# by SQL functions that do nothing.  ROUNDS (5) alternating rounds, each
# side on a fresh copy of the same data (CREATE DATABASE ... TEMPLATE);
# prints the median wall times and the ratio with/without.  Then the cost
# of one osv.progress_advance() call: CALLS (200,000) calls in a PL/pgSQL
# loop against the same loop calling a no-op SQL function.
. "$(dirname "$0")/lib.sh"
bench_start progress.sh

ROWS=${ROWS:-200000}
BATCH=${BATCH:-10000}
ROUNDS=${ROUNDS:-5}
CALLS=${CALLS:-200000}
psql() { "$BENCH_BIN/psql" -X -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }

osv_log "loading $ROWS trashed rooms"
psql -q -d bench <<SQL
ALTER SYSTEM SET osv.retention_batch_size = $BATCH;
SELECT pg_reload_conf();
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|b' || g, 'b' || g || '@example.org' FROM generate_series(1, 100) g;
INSERT INTO osv.rooms (user_id, name, last_activity_at, deleted_at)
SELECT 1 + g % 100, 'room ' || g, now() - interval '50 days', now() - interval '40 days'
FROM generate_series(1, $ROWS) g;
SQL
psql -q -d bench -c 'VACUUM (ANALYZE, FREEZE)' -c 'CHECKPOINT'

# The baseline: the same procedure, with progress reports that do nothing.
noop_progress() {
	psql -q -d "$1" <<'SQL'
CREATE OR REPLACE FUNCTION osv.progress_begin(kind text, total bigint, estimated boolean DEFAULT true, detail text DEFAULT NULL)
	RETURNS void LANGUAGE sql AS 'SELECT';
CREATE OR REPLACE FUNCTION osv.progress_advance(kind text, n bigint DEFAULT 1) RETURNS void LANGUAGE sql AS 'SELECT';
CREATE OR REPLACE FUNCTION osv.progress_end(kind text) RETURNS void LANGUAGE sql AS 'SELECT';
CREATE OR REPLACE FUNCTION osv.job_backlog(job text, cutoff timestamptz) RETURNS bigint LANGUAGE sql AS 'SELECT NULL::bigint';
SQL
}

purge() {
	local db="$1" t0 t1
	t0=$(now)
	psql -q -d "$db" -c "CALL osv.run_job_batched('purge_trashed', '30 days')" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

: >"$BENCH_DIR/with"
: >"$BENCH_DIR/without"
for r in $(seq 1 "$ROUNDS"); do
	psql -q -d postgres -c 'DROP DATABASE IF EXISTS bench_with' -c 'DROP DATABASE IF EXISTS bench_without' \
		-c 'CREATE DATABASE bench_with TEMPLATE bench' -c 'CREATE DATABASE bench_without TEMPLATE bench'
	noop_progress bench_without
	if [ $((r % 2)) -eq 1 ]; then
		purge bench_with >>"$BENCH_DIR/with"
		purge bench_without >>"$BENCH_DIR/without"
	else
		purge bench_without >>"$BENCH_DIR/without"
		purge bench_with >>"$BENCH_DIR/with"
	fi
	osv_log "round $r: with $(tail -1 "$BENCH_DIR/with") s, without $(tail -1 "$BENCH_DIR/without") s"
done
with=$(bench_median <"$BENCH_DIR/with")
without=$(bench_median <"$BENCH_DIR/without")
backlog_ms=$(psql -q -d bench -At -c '\timing on' -c "SELECT osv.job_backlog('purge_trashed', now() - interval '30 days')" |
	sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')

# One progress report against one call of a no-op SQL function.
loop_ms() {
	psql -q -d bench -At -c '\timing on' -c "DO \$\$ BEGIN PERFORM osv.progress_begin('purge', $CALLS);
		FOR i IN 1 .. $CALLS LOOP PERFORM $1; END LOOP; PERFORM osv.progress_end('purge'); END \$\$" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
psql -q -d bench -c "CREATE FUNCTION bench_noop(kind text, n bigint) RETURNS void LANGUAGE sql AS 'SELECT'"
: >"$BENCH_DIR/adv"
: >"$BENCH_DIR/noop"
for r in $(seq 1 "$ROUNDS"); do
	loop_ms "osv.progress_advance('purge', 1)" >>"$BENCH_DIR/adv"
	loop_ms "bench_noop('purge', 1)" >>"$BENCH_DIR/noop"
done
adv=$(bench_median <"$BENCH_DIR/adv")
noop=$(bench_median <"$BENCH_DIR/noop")

echo "purge of $ROWS trashed rooms, batches of $BATCH, median of $ROUNDS rounds:"
printf '  with progress %.3f s, without %.3f s, ratio %.3f (osv.job_backlog alone: %s ms)\n' \
	"$with" "$without" "$(echo "$with / $without" | bc -l)" "$backlog_ms"
printf 'osv.progress_advance: %.3f us a call, a no-op SQL function %.3f us (%d calls, median of %d)\n' \
	"$(echo "$adv * 1000 / $CALLS" | bc -l)" "$(echo "$noop * 1000 / $CALLS" | bc -l)" "$CALLS" "$ROUNDS"
