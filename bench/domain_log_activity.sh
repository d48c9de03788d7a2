#!/usr/bin/env bash
# bench/domain_log_activity.sh: throughput of osv.log_activity() against a
# plain INSERT into osv.activity_logs, both from 2 concurrent pgbench
# clients over prepared statements, alternating runs; prints each run and
# the ratio of the medians (target: at least 80%).
#
#   bench/domain_log_activity.sh [seconds per run, default 10] [rounds, default 3]

OSV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$OSV_ROOT/tools/lib.sh"
osv_drop_root bench/domain_log_activity.sh "$@"
secs=${1:-10}
rounds=${2:-3}
. "$OSV_ROOT/bench/domain_common.sh"

# 1000 users, none opted out: every call stores a row, like the INSERT.
bench_psql <<'SQL'
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|' || g, 'user' || g || '@example.org', 'User ' || g FROM generate_series(1, 1000) g;
SQL
first=$(bench_psql -Atc 'SELECT min(id) FROM osv.users')
cat >"$work/insert.sql" <<SQL
\set uid random($first, $((first + 999)))
INSERT INTO osv.activity_logs (user_id, event_type, properties) VALUES (:uid, 'page.view', '{"path": "/home"}');
SQL
cat >"$work/function.sql" <<SQL
\set uid random($first, $((first + 999)))
SELECT osv.log_activity(:uid, 'page.view', '{"path": "/home"}');
SQL

run() {
	bench_pgbench -n -M prepared -c 2 -j 2 -T "$secs" -f "$work/$1.sql" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
ins=()
fn=()
for ((i = 1; i <= rounds; i++)); do
	ins+=("$(run insert)")
	fn+=("$(run function)")
	echo "round $i: plain INSERT ${ins[-1]} tps, osv.log_activity ${fn[-1]} tps"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mi=$(median "${ins[@]}")
mf=$(median "${fn[@]}")
echo "median: plain INSERT $mi tps, osv.log_activity $mf tps, ratio $(awk -v f="$mf" -v i="$mi" 'BEGIN { printf "%.1f%%", 100 * f / i }')"
