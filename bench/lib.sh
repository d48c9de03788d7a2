# bench/lib.sh: a throwaway cluster for a benchmark script.
#
#   . "$(dirname "$0")/lib.sh"; bench_start NAME [EXTRA_CONF [SCRIPT_ARGS...]]
#   bench_psql -q -c '...'      (bench_stop runs at exit)
#
# Builds osv into the private installation, starts a cluster with osv
# preloaded (workers off unless the script says otherwise) and creates the
# extension in database "bench".  As root it re-runs the script as postgres.
#
# HUGE_PAGES=on puts the cluster's shared memory in huge pages (2 MB here):
# as root, before re-running the script as postgres, it reserves enough of
# them for shared_buffers (EXTRA_CONF's, else 1GB) plus a tenth and 64 MB,
# and 256 MB more for other clusters (PostgreSQL's default huge_pages = try
# takes free huge pages when a server starts: other tests on this machine
# do) through /proc/sys/vm/nr_hugepages, and gives them back when the
# script ends (a trap, on failure too).  The cluster starts with
# huge_pages = on once `postgres -C shared_memory_size_in_huge_pages` is at
# most the free pages not reserved by others (waiting up to a minute, and
# trying to start 3 times).  Only root can reserve pages: without root it
# fails.  HUGE_PAGES=off starts the cluster with huge_pages = off (4 kB
# pages for certain); unset, PostgreSQL's default (try) applies.

OSV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$OSV_ROOT/tools/lib.sh"
# bench/plot.sh draws the figures (installed here, before dropping root).
OSV_PACKAGES="$OSV_PACKAGES gnuplot-nox"

bench_start() {
	local script="$1" extra_conf="${2:-}"
	shift
	[ $# -eq 0 ] || shift
	bench_huge_pages >/dev/null		# checks HUGE_PAGES
	osv_install_packages
	bench_reserve_huge_pages "$extra_conf"
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
		[ -z "$(bench_huge_pages)" ] || echo "huge_pages = $(bench_huge_pages)"
	} >"$BENCH_DIR/bench.conf"
	trap bench_stop EXIT
	osv_init_cluster "$BENCH_DIR/data" "$BENCH_PORT" "$BENCH_BIN" "$BENCH_DIR/bench.conf"
	for try in 1 2 3; do
		bench_check_huge_pages
		"$BENCH_BIN/pg_ctl" -D "$BENCH_DIR/data" -l "$BENCH_DIR/data/server.log" -w start >/dev/null && break
		tail -3 "$BENCH_DIR/data/server.log" >&2
		[ "$(bench_huge_pages)" = on ] && [ "$try" -lt 3 ] || exit 1
		sleep 5
	done
	"$BENCH_BIN/createdb" -h "$BENCH_DIR/data" -p "$BENCH_PORT" -U postgres bench
	bench_psql -q -c 'CREATE EXTENSION osv'
}

# "on", "off" or "" (unset: PostgreSQL's default, try): HUGE_PAGES, checked.
bench_huge_pages() {
	case "${HUGE_PAGES:-}" in
	on | off | "") echo "${HUGE_PAGES:-}" ;;
	*)
		echo "bench: HUGE_PAGES must be on or off, not \"$HUGE_PAGES\"" >&2
		exit 2
		;;
	esac
}

# With HUGE_PAGES=on, as root: reserve the huge pages for the shared
# buffers set in $1 (default 1GB) and a trap giving them back at exit;
# BENCH_HUGE_PAGES (exported) is their number.  Not root: fail, unless
# this is the re-run as postgres of a root that reserved them.
bench_reserve_huge_pages() {
	local sb_mb page_kb pages before after
	[ "$(bench_huge_pages)" = on ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		[ -n "${BENCH_HUGE_PAGES:-}" ] && return 0
		echo "bench: HUGE_PAGES=on reserves huge pages by writing /proc/sys/vm/nr_hugepages, which only root can do: run the script as root (or without HUGE_PAGES)" >&2
		exit 1
	fi
	sb_mb=$(printf '%s\n' "$1" | sed -n "s/^shared_buffers *= *'\([0-9]*\)MB'.*/\1/p" | tail -1)
	sb_mb=${sb_mb:-1024}
	page_kb=$(awk '$1 == "Hugepagesize:" { print $2 }' /proc/meminfo)
	pages=$(( (sb_mb * 11 / 10 + 64 + 256) * 1024 / page_kb + 1 ))
	before=$(cat /proc/sys/vm/nr_hugepages)
	trap bench_release_huge_pages EXIT
	trap 'exit 130' INT TERM
	if ! echo $((before + pages)) 2>/dev/null >/proc/sys/vm/nr_hugepages; then
		echo "bench: could not write /proc/sys/vm/nr_hugepages to reserve $pages huge pages" >&2
		exit 1
	fi
	after=$(cat /proc/sys/vm/nr_hugepages)
	# what was reserved is given back at exit, all or part
	export BENCH_HUGE_PAGES=$(( after > before ? after - before : 0 ))
	if [ "$after" -lt $((before + pages)) ]; then
		echo "bench: the kernel reserved only $((after - before)) of $pages huge pages of $page_kb kB (memory too fragmented or too small?)" >&2
		exit 1
	fi
	osv_log "reserved $pages huge pages of $page_kb kB for shared_buffers = ${sb_mb}MB (vm.nr_hugepages $before -> $after)"
}

# Give back the pages bench_reserve_huge_pages reserved (EXIT trap, as root).
bench_release_huge_pages() {
	local now
	[ "${BENCH_HUGE_PAGES:-0}" -gt 0 ] || return 0
	now=$(cat /proc/sys/vm/nr_hugepages)
	echo $(( now > BENCH_HUGE_PAGES ? now - BENCH_HUGE_PAGES : 0 )) >/proc/sys/vm/nr_hugepages
	osv_log "gave back $BENCH_HUGE_PAGES huge pages (vm.nr_hugepages $now -> $(cat /proc/sys/vm/nr_hugepages))"
	BENCH_HUGE_PAGES=
}

# With HUGE_PAGES=on: wait (up to a minute) until the created, stopped
# cluster's need of huge pages is at most the free ones that other
# processes have not reserved.
bench_check_huge_pages() {
	local need avail
	[ "$(bench_huge_pages)" = on ] || return 0
	need=$("$BENCH_BIN/postgres" -D "$BENCH_DIR/data" -C shared_memory_size_in_huge_pages)
	for _ in $(seq 1 60); do
		avail=$(awk '$1 == "HugePages_Free:" { f = $2 } $1 == "HugePages_Rsvd:" { r = $2 } END { print f - r }' /proc/meminfo)
		[ "$need" -gt "$avail" ] || break
		sleep 1
	done
	if [ "$need" -gt "$avail" ]; then
		echo "bench: the cluster needs $need huge pages (shared_memory_size_in_huge_pages), $avail are free and not reserved by other processes" >&2
		exit 1
	fi
	osv_log "huge_pages = on: the cluster needs $need huge pages, $avail are available"
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
