# bench/domain_common.sh: shared start of the domain benchmarks.
#
# Sourced by bench/domain_*.sh after they set OSV_ROOT and sourced
# tools/lib.sh: builds osv, makes a private installation, starts a throwaway
# cluster with osv preloaded (workers off, so they cannot disturb the
# figures), creates database "bench" with osv in it, and stops the cluster
# on exit.  Sets $bin, $data, $port and the helpers bench_psql and
# bench_pgbench.

work=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench.XXXXXX")
osv_build
bin=$(osv_private_install "$work/install")
data="$work/data"
port=$(osv_free_port)
conf="$work/bench.conf"
{
	echo "shared_preload_libraries = 'osv'"
	echo "osv.database = 'bench'"
	echo "osv.vector_sync_worker = off"
	echo "osv.scheduler_worker = off"
	echo "timezone = 'UTC'"
	echo "shared_buffers = '256MB'"
	echo "max_wal_size = '2GB'"
	echo "synchronous_commit = off"
} >"$conf"
osv_start_cluster "$data" "$port" "$bin" "$conf"
trap 'osv_stop_cluster "$data" "$bin"; rm -rf "$work"' EXIT
"$bin/createdb" -h "$data" -p "$port" -U postgres bench
bench_psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$data" -p "$port" -U postgres -d bench "$@"; }
bench_pgbench() { "$bin/pgbench" -h "$data" -p "$port" -U postgres "$@" bench; }
bench_psql -c 'CREATE EXTENSION osv'
