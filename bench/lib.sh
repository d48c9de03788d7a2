# bench/lib.sh: a throwaway cluster for a benchmark script.
#
#   . "$(dirname "$0")/lib.sh"; bench_start NAME [EXTRA_CONF [SCRIPT_ARGS...]]
#   bench_psql -q -c '...'      (bench_stop runs at exit)
#
# Builds osv into the private installation, starts a cluster with osv
# preloaded (workers off unless the script says otherwise) and creates the
# extension in database "bench".  As root it re-runs the script as postgres.

OSV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$OSV_ROOT/tools/lib.sh"
# bench/plot.sh draws the figures (installed here, before dropping root).
OSV_PACKAGES="$OSV_PACKAGES gnuplot-nox"

bench_start() {
	local script="$1" extra_conf="${2:-}"
	shift
	[ $# -eq 0 ] || shift
	osv_install_packages
	osv_drop_root "bench/$script" "$@"
	osv_build
	BENCH_BIN=$(osv_private_install "$OSV_ROOT/tmp_install")
	BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench.XXXXXX")
	BENCH_PORT=$(osv_free_port)
	{
		echo "shared_preload_libraries = 'osv'"
		echo "osv.database = 'bench'"
		echo "osv.scheduler_worker = off"
		echo "osv.vector_sync_worker = off"
		echo "shared_buffers = '1GB'"
		echo "max_wal_size = '4GB'"
		echo "synchronous_commit = off"
		echo "timezone = 'UTC'"
		printf '%s\n' "$extra_conf"
	} >"$BENCH_DIR/bench.conf"
	trap bench_stop EXIT
	osv_start_cluster "$BENCH_DIR/data" "$BENCH_PORT" "$BENCH_BIN" "$BENCH_DIR/bench.conf"
	"$BENCH_BIN/createdb" -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres bench
	bench_psql -q -c 'CREATE EXTENSION osv'
}

bench_stop() {
	[ -z "${BENCH_SINK_PID:-}" ] || kill "$BENCH_SINK_PID" 2>/dev/null || true
	osv_stop_cluster "$BENCH_DIR/data" "$BENCH_BIN"
	rm -rf "$BENCH_DIR"
}

# Start the Qdrant-compatible test server in --sink mode (upsert bodies are
# read and discarded); sets BENCH_SINK_URL.  bench_stop ends it.
bench_start_sink() {
	local dir="$BENCH_DIR/qdrant"
	mkdir -p "$dir"
	python3 "$OSV_ROOT/test/qdrant/qdrant_server.py" --port 0 --port-file "$dir/port" --sink >"$dir/out" 2>&1 &
	BENCH_SINK_PID=$!
	for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
	[ -s "$dir/port" ] || { cat "$dir/out" >&2; exit 1; }
	BENCH_SINK_URL="http://127.0.0.1:$(cat "$dir/port")"
}

bench_psql() {
	"$BENCH_BIN/psql" -X -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres -d bench -v ON_ERROR_STOP=1 "$@"
}

bench_pgbench() {
	"$BENCH_BIN/pgbench" -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres "$@" bench
}

# The median of numbers given one per line on stdin.
bench_median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
