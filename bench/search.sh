#!/usr/bin/env bash
# bench/search.sh: embedded search benchmark (issue 3).
#
# Exact top-10 cosine search over 100,000 live summaries of
# osv.vector_dimensions (384) random normalised dimensions (plus 5,000
# trashed ones), by osv.search_summaries() in embedded mode against the
# same exact search written in plain SQL (unnest/sum), in one session of a
# throwaway cluster built from this tree.  Prints per-query times and the
# ratio; numbers, not pass/fail.
#
#   bench/search.sh [rows [queries [sql_queries]]]     defaults 100000 100 5
#
# The cluster gets shared_buffers = 512MB so that the table (about 215 MB)
# stays in shared buffers, as it should in production; PostgreSQL's other
# settings are left at their defaults (the plain-SQL search may use
# parallel workers).

OSV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$OSV_ROOT/tools/lib.sh"

osv_install_packages
osv_drop_root bench/search.sh "$@"

rows=${1:-100000}
queries=${2:-100}
sql_queries=${3:-5}

work=$(mktemp -d "${TMPDIR:-/tmp}/osv-bench-search.XXXXXX")
trap 'osv_stop_cluster "$work/data" "$bin"; rm -rf "$work"' EXIT
osv_build
bin=$(osv_private_install "$work/install")
port=$(osv_free_port)
printf 'shared_buffers = 512MB\n' >"$work/bench.conf"
osv_start_cluster "$work/data" "$port" "$bin" "$work/bench.conf"

psql() { "$bin/psql" -X -q -h "$work/data" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
"$bin/createdb" -h "$work/data" -p "$port" -U postgres bench
psql -d bench -c 'CREATE EXTENSION osv'

osv_log "loading $rows summaries"
psql -d bench -v rows="$rows" -f "$OSV_ROOT/bench/search_setup.sql"
psql -d bench -c "ALTER DATABASE bench SET bench.queries = '$queries'" \
	-c "ALTER DATABASE bench SET bench.sql_queries = '$sql_queries'"
osv_log "timing $queries osv searches and $sql_queries plain-SQL searches"
psql -d bench -v queries="$queries" -v sql_queries="$sql_queries" -f "$OSV_ROOT/bench/search.sql"
