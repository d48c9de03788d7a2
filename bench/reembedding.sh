#!/usr/bin/env bash
# bench/reembedding.sh: the switch of a re-embedding (issue 15, item 3).
#
# osv.finish_reembedding() over ROWS live summaries of 384 dimensions in the
# embedded mode (checks, the swap of embedding_next into embedding in slices
# of 1000 ids, the outbox clean-up) against the bare swap done as one
# UPDATE of the same rows moving embedding_next into embedding, with the
# run marked finished, in one transaction, on the same table.  (The
# statement trigger of the soft-delete cascade joins the transition tables
# of an UPDATE, which costs the square of its rows: hence the slices.)  ROUNDS alternating rounds (A then B,
# B then A); between two timings the run is started again and every
# embedding_next written again, then the table vacuumed (not timed).  The
# time of the switch is the time writers of summaries wait.  Numbers, not
# pass/fail.
#
#   bench/reembedding.sh [rows [rounds]]     defaults 5000 3

OSV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$OSV_ROOT/tools/lib.sh"

osv_install_packages
osv_drop_root bench/reembedding.sh "$@"

rows=${1:-5000}
rounds=${2:-3}

work=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench-reembed.XXXXXX")
trap 'osv_stop_cluster "$work/data" "$bin"; rm -rf "$work"' EXIT
osv_build
bin=$(osv_private_install "$work/install")
port=$(osv_free_port)
printf 'shared_buffers = 256MB\n' >"$work/bench.conf"
osv_start_cluster "$work/data" "$port" "$bin" "$work/bench.conf"

psql() { "$bin/psql" -X -q -At -h "$work/data" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
"$bin/createdb" -h "$work/data" -p "$port" -U postgres bench
psql -d bench -c 'CREATE EXTENSION osv'

osv_log "loading $rows summaries"
psql -d bench -v rows="$rows" <<'SQL'
CREATE FUNCTION rnd(n integer) RETURNS real[] LANGUAGE sql VOLATILE
	AS $$ SELECT ARRAY(SELECT (random() - 0.5)::real FROM generate_series(1, n)) $$;
INSERT INTO osv.users (auth0_id, email) SELECT 'auth0|b' || g, 'b' || g || '@example.org' FROM generate_series(1, 100) g;
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key)
	SELECT 1 + g % 100, 'text', 'doc ' || g, 'bench', 'k/' || g FROM generate_series(1, :rows) g;
INSERT INTO osv.summaries (document_id, topic, content, embedding)
	SELECT d.id, 'misc', 'summary ' || d.id, rnd(384) FROM osv.documents d;
SQL

prepare() {
	psql -d bench -c 'SELECT osv.start_reembedding(384)' \
		-c 'DO $$ BEGIN FOR lo IN 0 .. (SELECT max(id) FROM osv.summaries) BY 1000 LOOP
				UPDATE osv.summaries SET embedding_next = rnd(384) WHERE id >= lo AND id < lo + 1000; END LOOP; END $$' \
		-c 'VACUUM ANALYZE osv.summaries' >/dev/null
}
# Milliseconds of one statement list in one transaction.
timed() {
	psql -d bench -c "SELECT extract(epoch FROM clock_timestamp())" -c "$1" \
		-c "SELECT extract(epoch FROM clock_timestamp())" |
		awk 'NR == 1 { t = $1 } /^[0-9.]+$/ { e = $1 } END { printf "%.0f\n", (e - t) * 1000 }'
}
finish='SELECT osv.finish_reembedding()'
bare='BEGIN; UPDATE osv.summaries SET embedding = embedding_next, embedding_next = NULL WHERE embedding IS NOT NULL OR embedding_next IS NOT NULL; UPDATE osv.reembeddings SET finished_at = now() WHERE finished_at IS NULL; COMMIT'

a=() b=()
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then
		prepare; a+=("$(timed "$finish")"); prepare; b+=("$(timed "$bare")")
	else
		prepare; b+=("$(timed "$bare")"); prepare; a+=("$(timed "$finish")")
	fi
	osv_log "round $r: finish_reembedding ${a[-1]} ms, bare swap ${b[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ma=$(median "${a[@]}") mb=$(median "${b[@]}")
echo "rows $rows, rounds $rounds: osv.finish_reembedding() median $ma ms, bare swap median $mb ms, ratio $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", a / b }')"
