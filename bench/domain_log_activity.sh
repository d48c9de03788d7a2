#!/usr/bin/env bash
# bench/domain_log_activity.sh: throughput of osv.log_activity() against a
# plain INSERT into osv.activity_logs, both from 2 concurrent pgbench
# clients over prepared statements, alternating short runs (so that a
# change of machine load hits both alike); prints each round, the ratio of
# the medians and the median of the per-round ratios (target: at least
# 80%).  Then the server-side cost per call, without client round trips:
# 20,000 calls of each in a PL/pgSQL loop, alternating, 3 times.
#
#   bench/domain_log_activity.sh [seconds per run, default 5] [rounds, default 7]

. "$(dirname "$0")/lib.sh"
bench_start domain_log_activity.sh "" "$@"
secs=${1:-5}
rounds=${2:-7}

# 1000 users, none opted out: every call stores a row, like the INSERT.
bench_psql -q <<'SQL'
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|' || g, 'user' || g || '@example.org', 'User ' || g FROM generate_series(1, 1000) g;
SQL
first=$(bench_psql -Atc 'SELECT min(id) FROM osv.users')
cat >"$BENCH_DIR/insert.sql" <<SQL
\set uid random($first, $((first + 999)))
INSERT INTO osv.activity_logs (user_id, event_type, properties) VALUES (:uid, 'page.view', '{"path": "/home"}');
SQL
cat >"$BENCH_DIR/function.sql" <<SQL
\set uid random($first, $((first + 999)))
SELECT osv.log_activity(:uid, 'page.view', '{"path": "/home"}');
SQL

run() {
	bench_pgbench -n -M prepared -c 2 -j 2 -T "$secs" -f "$BENCH_DIR/$1.sql" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
ins=()
fn=()
ratios=()
for ((i = 1; i <= rounds; i++)); do
	ins+=("$(run insert)")
	fn+=("$(run function)")
	ratios+=("$(awk -v f="${fn[-1]}" -v i="${ins[-1]}" 'BEGIN { printf "%.1f", 100 * f / i }')")
	echo "round $i: plain INSERT ${ins[-1]} tps, osv.log_activity ${fn[-1]} tps (${ratios[-1]}%)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mi=$(median "${ins[@]}")
mf=$(median "${fn[@]}")
echo "median: plain INSERT $mi tps, osv.log_activity $mf tps, ratio $(awk -v f="$mf" -v i="$mi" 'BEGIN { printf "%.1f%%", 100 * f / i }'); median of per-round ratios $(median "${ratios[@]}")%"

bench_psql -q -v first="$first" <<'SQL'
SET bench.first = :first;
CREATE TABLE timing (kind text, ms float8);
DO $$
DECLARE
	first bigint := current_setting('bench.first')::bigint;
	t timestamptz;
BEGIN
	FOR round IN 1 .. 3 LOOP
		t := clock_timestamp();
		FOR i IN 1 .. 20000 LOOP
			INSERT INTO osv.activity_logs (user_id, event_type, properties) VALUES (first + i % 1000, 'page.view', '{"path": "/home"}');
		END LOOP;
		INSERT INTO timing VALUES ('plain INSERT', extract(epoch FROM clock_timestamp() - t) * 1000 / 20000);
		t := clock_timestamp();
		FOR i IN 1 .. 20000 LOOP
			PERFORM osv.log_activity(first + i % 1000, 'page.view', '{"path": "/home"}');
		END LOOP;
		INSERT INTO timing VALUES ('osv.log_activity', extract(epoch FROM clock_timestamp() - t) * 1000 / 20000);
	END LOOP;
END
$$;
SQL
bench_psql -c "SELECT kind, round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) * 1000)::numeric, 1) AS median_us_per_call
FROM timing GROUP BY kind ORDER BY min(ctid)"
