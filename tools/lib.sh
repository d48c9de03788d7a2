# tools/lib.sh: shell functions shared by demo/run, test/run and bench/run.
#
# They install the Debian packages osv needs, build osv with warnings as
# errors, and make a private installation: a copy of the PostgreSQL
# installation with osv installed into it (PostgreSQL finds its share and
# lib directories relative to its binaries), so that tests, the demo and
# benchmarks never touch the system installation, need no root to install
# osv, and can run side by side.  initdb refuses to run as root, so when
# started as root the scripts copy the tree to a work directory owned by
# the postgres user and run there as postgres.
#
# Source it with OSV_ROOT set to the top of the osv tree.

set -euo pipefail

OSV_PACKAGES="make gcc pkg-config python3 postgresql-15 postgresql-server-dev-15 \
libcurl4-openssl-dev libjson-c-dev postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl \
libipc-run-perl postgresql-15-cron curl python3-botocore prometheus-postgres-exporter php-cli php-pgsql python3-psycopg"
# The Debian package build of test/t/070_packaging.pl is optional (about a
# minute): OSV_TEST_PACKAGE=1 runs it and installs what it needs.
[ -z "${OSV_TEST_PACKAGE:-}" ] || OSV_PACKAGES="$OSV_PACKAGES debhelper dpkg-dev"
# test/s3 runs s3rver with node 20 and npm, here already; npm only where it lacks.
[ -x /usr/bin/npm ] || OSV_PACKAGES="$OSV_PACKAGES npm"

OSV_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers"

osv_log() { printf '==> %s\n' "$*" >&2; }

# Install the Debian packages that are missing (as root, or through sudo).
osv_install_packages() {
	local missing=() pkg sudo=""
	for pkg in $OSV_PACKAGES; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	osv_log "installing Debian packages: ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Install an npm tool of the tests with its install script ($1, relative to
# $OSV_ROOT) into $2, as root or through sudo unless that directory's parent
# is writable; a no-op once installed.
osv_install_npm_tool() {
	local script="$OSV_ROOT/$1" dest="$2" sudo=""
	[ -x "$script" ] || return 0
	"$script" --check "$dest" && return 0
	if [ "$(id -u)" -ne 0 ] && ! [ -w "$(dirname "$dest")" ]; then
		sudo="sudo"
	fi
	$sudo "$script" "$dest"
}

# s3rver (pinned by test/s3/package-lock.json) for the "s3" test suite, in
# $OSV_S3RVER_DIR (default /var/cache/osv-npm/s3rver).
osv_install_s3rver() {
	osv_install_npm_tool test/s3/install_s3rver "${OSV_S3RVER_DIR:-/var/cache/osv-npm/s3rver}"
}

# node-postgres (pinned by test/node_pg/package-lock.json) for the TAP test
# of vector input from clients, in $OSV_NODE_PG_DIR (default
# /var/cache/osv-npm/node-pg).
osv_install_node_pg() {
	osv_install_npm_tool test/node_pg/install_node_pg "${OSV_NODE_PG_DIR:-/var/cache/osv-npm/node-pg}"
}

# When run as root, copy the tree to a fresh work directory owned by
# postgres and re-run the calling script there as postgres.  Returns only
# when not root.
osv_drop_root() {
	local script="$1"
	shift
	[ "$(id -u)" -eq 0 ] || return 0
	local work
	work=$(mktemp -d "${TMPDIR:-/tmp}/osv-run.XXXXXX")
	osv_log "running as postgres in $work"
	tar -C "$OSV_ROOT" --exclude=./.git --exclude=./tmp_install --exclude=./tmp_check \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$work" -xf -
	chown -R postgres: "$work"
	chmod 755 "$work"
	set +e
	runuser -u postgres -- env OSV_KEEP_WORK="${OSV_KEEP_WORK:-}" \
		${OSV_S3RVER_DIR:+OSV_S3RVER_DIR="$OSV_S3RVER_DIR"} \
		${OSV_NODE_PG_DIR:+OSV_NODE_PG_DIR="$OSV_NODE_PG_DIR"} \
		${OSV_TAP_ONLY:+OSV_TAP_ONLY="$OSV_TAP_ONLY"} \
		${OSV_TAP_JOBS:+OSV_TAP_JOBS="$OSV_TAP_JOBS"} "$work/$script" "$@"
	local rc=$?
	set -e
	# Plots a benchmark wrote (bench/plot.sh) belong to this tree.
	if [ -d "$work/bench/plots" ]; then
		mkdir -p "$OSV_ROOT/bench/plots"
		cp -r --no-preserve=ownership "$work/bench/plots/." "$OSV_ROOT/bench/plots/"
	fi
	[ -n "${OSV_KEEP_WORK:-}" ] || rm -rf "$work"
	exit $rc
}

# Build osv in OSV_ROOT with warnings as errors.
osv_build() {
	osv_log "building osv"
	make -s -C "$OSV_ROOT" PG_CFLAGS="$OSV_CFLAGS" >&2
}

# Make a private installation in $1 and print its bin directory.
osv_private_install() {
	local dest="$1" dir
	rm -rf "$dest"
	for dir in "$(pg_config --bindir)" "$(pg_config --pkglibdir)" "$(pg_config --sharedir)"; do
		mkdir -p "$dest$dir"
		cp -a "$dir/." "$dest$dir/"
	done
	make -s -C "$OSV_ROOT" install DESTDIR="$dest" >&2
	echo "$dest$(pg_config --bindir)"
}

# Start a throwaway cluster: osv_start_cluster DATADIR PORT BINDIR [conf file]
osv_start_cluster() {
	osv_init_cluster "$@"
	"$3/pg_ctl" -D "$1" -l "$1/server.log" -w start >/dev/null
}

# Create it without starting it: osv_init_cluster DATADIR PORT BINDIR [conf file]
osv_init_cluster() {
	local data="$1" port="$2" bin="$3" conf="${4:-}"
	"$bin/initdb" -D "$data" -A trust -U postgres --no-sync >/dev/null
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$data'"
		echo "fsync = off"
		[ -z "$conf" ] || cat "$conf"
	} >>"$data/postgresql.conf"
}

osv_stop_cluster() {
	local data="$1" bin="$2"
	[ -f "$data/postmaster.pid" ] && "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
}

# A free TCP port on 127.0.0.1.
osv_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
