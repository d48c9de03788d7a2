# osv: PGXS build of the Open Study Volt data-layer extension.
#
# The install script of the current version, osv--$(EXTVERSION).sql, is
# concatenated from the domain files in src/sql in the order of SQL_SOURCES
# (later files use objects of earlier ones).  Released versions are frozen:
# osv--1.0.sql is the install script of 1.0 as released and never changes.
# The upgrade script osv--1.0--1.1.sql is concatenated from the files of
# src/sql/updates/1.0--1.1 in name order; once 1.1 is released those files
# are frozen too (a fragment that is a link to a domain file, such as
# 90_roles.sql, becomes a copy) and the next version gets a directory of
# its own.  The
# "upgrade" TAP test installs each released version with data, updates it
# and compares the catalog with a fresh install of the current version.
#
# Tests: "test/run" builds, installs into a private copy of the PostgreSQL
# installation and runs every suite on throwaway clusters; "make
# installcheck" runs the pg_regress and isolation suites against the running
# server that PGHOST, PGPORT and PGUSER name (after "make install"), the
# PGXS way.  Like pg_stat_statements (which sets NO_INSTALLCHECK for that
# reason), osv's tests need the module preloaded, which a test cannot do to
# a running server: installcheck first checks that the server has
# shared_preload_libraries = 'osv', osv.database = 'contrib_regression' and
# both workers off (the settings of test/osv.conf), and stops with a message
# saying what to set when it has not.

EXTENSION  = osv
EXTVERSION = 1.1
MODULE_big = osv

OBJS = \
	src/osv.o \
	src/settings.o \
	src/health.o \
	src/progress.o \
	src/worker.o \
	src/spi_plan.o \
	src/trigger_check.o \
	src/soft_delete.o \
	src/badges.o \
	src/domain.o \
	src/embed_text.o \
	src/vector_check.o \
	src/vector_input.o \
	src/vector_kernel.o \
	src/exact_scan.o \
	src/export_json.o \
	src/parallel_scan.o \
	src/partitions.o \
	src/restore.o \
	src/scheduler.o \
	src/http.o \
	src/json_float.o \
	src/qdrant.o \
	src/outbox.o \
	src/sync_engine.o \
	src/sync_worker.o \
	src/vector_sql.o \
	src/reconcile.o \
	src/roles.o \
	src/s3.o \
	src/storage_sync.o \
	src/reembedding.o

# A VPATH build (pg_buildext, debian/rules) writes the objects under src/
# of the build directory.
ifdef VPATH
$(shell mkdir -p src)
endif

SQL_SOURCES = \
	src/sql/core.sql \
	src/sql/users.sql \
	src/sql/documents.sql \
	src/sql/quiz.sql \
	src/sql/rooms.sql \
	src/sql/activity.sql \
	src/sql/gamification.sql \
	src/sql/vector.sql \
	src/sql/search.sql \
	src/sql/vector_input.sql \
	src/sql/reembedding.sql \
	src/sql/compliance.sql \
	src/sql/erasure.sql \
	src/sql/retention.sql \
	src/sql/health.sql \
	src/sql/ops.sql \
	src/sql/backup.sql \
	src/sql/scale.sql \
	src/sql/roles.sql

UPDATE_1_1_SOURCES = $(sort $(wildcard $(srcdir)/src/sql/updates/1.0--1.1/*.sql))

DATA_built = osv--$(EXTVERSION).sql osv--1.0--1.1.sql
DATA = osv--1.0.sql

REGRESS = \
	schema \
	soft_delete \
	errors \
	laravel \
	compliance \
	export \
	users_api \
	uploads \
	quiz \
	rooms \
	activity \
	gamification \
	sample_data \
	embedding \
	search \
	vector_input \
	reembedding \
	search_exact \
	retention \
	vector_outbox \
	storage_sync \
	health \
	backup \
	read_only
REGRESS_OPTS =
REGRESS_PREP = installcheck-precheck

ISOLATION = \
	soft_delete_race \
	badge_criteria_cache \
	award_points \
	join_room \
	upsert_auth0_user \
	archive_twice \
	archive_inserts \
	archive_lock_order \
	archive_lock \
	vector_outbox
ISOLATION_OPTS = --inputdir=test --load-extension=osv

PG_CPPFLAGS = $(shell pkg-config --cflags libcurl json-c)
SHLIB_LINK  = $(shell pkg-config --libs libcurl json-c)

EXTRA_CLEAN = tmp_check tmp_check_iso results output_iso regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

osv--$(EXTVERSION).sql: $(SQL_SOURCES)
	cat $^ > $@

osv--1.0--1.1.sql: $(UPDATE_1_1_SOURCES)
	cat $^ > $@

# The server of "make installcheck" must be set up as test/osv.conf says.
INSTALLCHECK_PSQL = $(bindir)/psql -X -A -t -q -d postgres
installcheck-precheck:
	@$(INSTALLCHECK_PSQL) -c 'SELECT 1' >/dev/null || { \
		echo "make installcheck: cannot connect to the running server; set PGHOST, PGPORT and PGUSER (a superuser)" >&2; exit 1; }
	@got=$$($(INSTALLCHECK_PSQL) -c "SELECT coalesce(current_setting('osv.database', true), '(osv not preloaded)') || ',' || \
		coalesce(current_setting('osv.scheduler_worker', true), '') || ',' || coalesce(current_setting('osv.vector_sync_worker', true), '')"); \
	if [ "$$got" != "contrib_regression,off,off" ]; then \
		echo "make installcheck: osv's tests need the running server set up as test/osv.conf says:" >&2; \
		echo "    shared_preload_libraries = 'osv'   (then restart)" >&2; \
		echo "    osv.database = 'contrib_regression'" >&2; \
		echo "    osv.scheduler_worker = off" >&2; \
		echo "    osv.vector_sync_worker = off" >&2; \
		echo "  (its osv.database, osv.scheduler_worker, osv.vector_sync_worker: $$got)" >&2; \
		echo "  Like pg_stat_statements, osv cannot be tested on a server that does not preload it;" >&2; \
		echo "  test/run tests on throwaway clusters instead." >&2; \
		exit 1; \
	fi

.PHONY: installcheck-precheck

# Lets scripts read the test lists: make -s print-REGRESS
print-%:
	@echo $($*)
