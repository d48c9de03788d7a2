#!/usr/bin/env bash
# bench/soft_delete.sh: what osv's triggers cost, and how fast a cascade is.
#
# 1. Insert throughput of a document and its summary per transaction
#    (pgbench, one client) into osv's tables against copies of the same
#    tables (same columns, constraints, indexes and foreign keys) without
#    osv's triggers; rounds alternate and the median of each side is kept.
#    Target: osv keeps at least 85% of the plain rate.
# 2. Trash and restore of a user owning 10,000 rows (5,000 documents, each
#    with a summary) through osv.soft_delete / osv.restore.  Target: < 1 s.
. "$(dirname "$0")/lib.sh"
bench_start soft_delete.sh

ROUNDS=${ROUNDS:-5}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-10}

bench_psql -q <<'SQL'
INSERT INTO osv.users (auth0_id, email, name)
SELECT 'auth0|b' || g, 'b' || g || '@example.org', 'Bench ' || g FROM generate_series(1, 100) g;

-- the baseline: the same tables, constraints, indexes and foreign keys, no triggers
CREATE SCHEMA plain;
CREATE TABLE plain.documents (LIKE osv.documents INCLUDING ALL);
ALTER TABLE plain.documents ADD FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE;
CREATE TABLE plain.summaries (LIKE osv.summaries INCLUDING ALL);
ALTER TABLE plain.summaries ADD FOREIGN KEY (document_id) REFERENCES plain.documents (id) ON DELETE CASCADE;
ALTER TABLE plain.summaries ADD FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE;
SQL

cat >"$BENCH_DIR/osv.pgbench" <<'SQL'
\set u random(1, 100)
WITH d AS (INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
           VALUES (:u, 'pdf', 'bench', 'bench-docs', 'k' || :client_id || '-' || nextval('bench_keys')) RETURNING id)
INSERT INTO osv.summaries (document_id, user_id, content) SELECT id, :u, 'a summary of the bench document' FROM d;
SQL
sed 's/osv\./plain./g' "$BENCH_DIR/osv.pgbench" >"$BENCH_DIR/plain.pgbench"
bench_psql -q -c 'CREATE SEQUENCE bench_keys'

for round in $(seq 1 "$ROUNDS"); do
	for side in plain osv; do
		tps=$(bench_pgbench -n -c 1 -T "$SECONDS_PER_ROUND" -f "$BENCH_DIR/$side.pgbench" 2>/dev/null |
			sed -n 's/^tps = \([0-9.]*\).*/\1/p')
		echo "$tps" >>"$BENCH_DIR/$side.tps"
		echo "round $round $side: $tps tps"
	done
done
plain=$(bench_median <"$BENCH_DIR/plain.tps")
osv=$(bench_median <"$BENCH_DIR/osv.tps")
# Rounds alternate, so each round's osv/plain is a paired ratio, less
# exposed to the machine's drift than the ratio of the medians.
paired=$(paste "$BENCH_DIR/osv.tps" "$BENCH_DIR/plain.tps" | awk '{ printf "%.3f\n", $1 / $2 }' | bench_median)
echo "insert document+summary: plain $plain tps, osv $osv tps, ratio $(awk -v a="$osv" -v b="$plain" 'BEGIN { printf "%.3f", a / b }'), median of per-round ratios $paired (target >= 0.85)"

# 2. cascade trash and restore of a user owning 10,000 rows
bench_psql -q <<'SQL'
INSERT INTO osv.users (auth0_id, email, name) VALUES ('auth0|owner', 'owner@example.org', 'Owner');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
SELECT (SELECT id FROM osv.users WHERE auth0_id = 'auth0|owner'), 'pdf', 'doc ' || g, 'owner-docs', 'doc-' || g
FROM generate_series(1, 5000) g;
INSERT INTO osv.summaries (document_id, content)
SELECT id, 'summary of ' || title FROM osv.documents WHERE storage_bucket = 'owner-docs';
VACUUM ANALYZE;
SQL
for round in $(seq 1 "$ROUNDS"); do
	bench_psql -At <<'SQL'
SELECT 'trash_ms ' || round(extract(epoch FROM clock_timestamp() - t) * 1000, 1)
FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT osv.soft_delete('osv.users', id) FROM osv.users WHERE auth0_id = 'auth0|owner') x;
SELECT 'restore_ms ' || round(extract(epoch FROM clock_timestamp() - t) * 1000, 1)
FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT osv.restore('osv.users', id) FROM osv.users WHERE auth0_id = 'auth0|owner') x;
SQL
done | tee "$BENCH_DIR/cascade.txt"
echo "cascade over 10,000 rows: trash median $(awk '/^trash_ms/ { print $2 }' "$BENCH_DIR/cascade.txt" | bench_median) ms," \
	"restore median $(awk '/^restore_ms/ { print $2 }' "$BENCH_DIR/cascade.txt" | bench_median) ms (target < 1000 ms each)"
bench_psql -At -c "SELECT 'rows trashed per cascade: ' || (SELECT count(*) FROM osv.documents WHERE storage_bucket = 'owner-docs') + (SELECT count(*) FROM osv.summaries s JOIN osv.documents d ON d.id = s.document_id WHERE d.storage_bucket = 'owner-docs')"
