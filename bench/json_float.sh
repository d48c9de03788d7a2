#!/usr/bin/env bash
# bench/json_float.sh: float4 to JSON text, src/json_float.c against
# PostgreSQL's shortest round-trip formatting, in one process (bench/json_float.c).
#   bench/json_float.sh [COUNT]
OSV_ROOT=$(cd "$(dirname "$0")/.." && pwd)
set -e
exe=$(mktemp /tmp/osv-json-float.XXXXXX)
trap 'rm -f "$exe"' EXIT
gcc -O2 -Wall -I"$OSV_ROOT/src" -I"$(pg_config --includedir-server)" -o "$exe" \
	"$OSV_ROOT/bench/json_float.c" "$OSV_ROOT/src/json_float.c" \
	-L"$(pg_config --pkglibdir)" -lpgcommon -lpgport -lm
"$exe" "$@"
