#!/usr/bin/env bash
# bench/roles_rls.sh: the app path under row-level security.  Three
# workloads run from 2 pgbench clients over prepared statements, once as a
# login role granted osv_app acting for one platform user (row-level
# security on) and once as the owner (a superuser: no row-level security),
# in alternating short runs; prints each round and, per workload, the ratio
# of the median rates (app / owner; target: at least 0.9).
#   log_activity   SELECT osv.log_activity(user, ...)
#   doc_summary    INSERT a document, then its summary (one transaction)
#   search         osv.search_summaries(query, 10) over 20,000 summaries
#
#   bench/roles_rls.sh [seconds per run, default 5] [rounds, default 5]

. "$(dirname "$0")/lib.sh"
bench_start roles_rls.sh "" "$@"
secs=${1:-5}
rounds=${2:-5}

bench_psql -q <<'SQL'
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|' || g, 'user' || g || '@example.org', 'User ' || g FROM generate_series(1, 1000) g;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT u.id, 'text', 'seed ' || g, 'seed-bucket', 'seed/' || g
FROM generate_series(1, 20000) g JOIN osv.users u ON u.id = (SELECT min(id) FROM osv.users) + g % 1000;
INSERT INTO osv.summaries (document_id, content, embedding)
SELECT d.id, d.title, osv.embed_text('seed summary about topic ' || (d.id % 97) || ' and ' || (d.id % 13)) FROM osv.documents d;
VACUUM ANALYZE;
CREATE ROLE bench_app LOGIN IN ROLE osv_app;
SQL
uid=$(bench_psql -Atc 'SELECT min(id) + 7 FROM osv.users')

cat >"$BENCH_DIR/log_activity.sql" <<SQL
SELECT osv.log_activity($uid, 'page.view', '{"path": "/home"}');
SQL
cat >"$BENCH_DIR/doc_summary.sql" <<SQL
\set k random(1, 1000000000)
BEGIN;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
VALUES ($uid, 'text', 'notes', 'bench-bucket', 'k/' || :k || '/' || pg_backend_pid() || '/' || clock_timestamp()) RETURNING id \gset
INSERT INTO osv.summaries (document_id, content) VALUES (:id, 'a short summary of the notes');
COMMIT;
SQL
cat >"$BENCH_DIR/search.sql" <<SQL
\set t random(1, 97)
SELECT * FROM osv.search_summaries(osv.embed_text('summary about topic ' || :t), 10);
SQL

run() {
	local user="$1" script="$2"
	PGOPTIONS="-c osv.acting_user_id=$uid" "$BENCH_BIN/pgbench" -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U "$user" \
		-n -M prepared -c 2 -j 2 -T "$secs" -f "$BENCH_DIR/$script.sql" bench 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
for w in log_activity doc_summary search; do
	app=()
	own=()
	for ((i = 1; i <= rounds; i++)); do
		own+=("$(run postgres "$w")")
		app+=("$(run bench_app "$w")")
		echo "$w round $i: owner ${own[-1]} tps, osv_app with RLS ${app[-1]} tps"
	done
	mo=$(printf '%s\n' "${own[@]}" | bench_median)
	ma=$(printf '%s\n' "${app[@]}" | bench_median)
	echo "$w: median owner $mo tps, osv_app $ma tps, ratio $(awk -v a="$ma" -v o="$mo" 'BEGIN { printf "%.3f", a / o }')"
done
bench_psql -q -c 'DROP OWNED BY bench_app' -c 'DROP ROLE bench_app'
