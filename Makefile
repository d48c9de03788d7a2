# osv: PGXS build of the Open Study Volt data-layer extension.
#
# The install script of the current version, osv--$(EXTVERSION).sql, is
# concatenated from the domain files in src/sql in the order of SQL_SOURCES
# (later files use objects of earlier ones).  Released versions are frozen:
# osv--1.0.sql is the install script of 1.0 as released and never changes.
# The upgrade script osv--1.0--1.1.sql is concatenated from the files of
# src/sql/updates/1.0--1.1 in name order; once 1.1 is released those files
# are frozen too and the next version gets a directory of its own.  The
# "upgrade" TAP test installs each released version with data, updates it
# and compares the catalog with a fresh install of the current version.
#
# Tests: "test/run" builds, installs into a private copy of the PostgreSQL
# installation and runs every suite; "make installcheck" runs the pg_regress
# suite against the system installation (after "make install").

EXTENSION  = osv
EXTVERSION = 1.1
MODULE_big = osv

OBJS = \
	src/osv.o \
	src/settings.o \
	src/worker.o \
	src/spi_plan.o \
	src/trigger_check.o \
	src/soft_delete.o \
	src/badges.o \
	src/domain.o \
	src/embed_text.o \
	src/vector_check.o \
	src/exact_scan.o \
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
	src/roles.o

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
	src/sql/compliance.sql \
	src/sql/retention.sql \
	src/sql/backup.sql \
	src/sql/roles.sql

UPDATE_1_1_SOURCES = $(sort $(wildcard src/sql/updates/1.0--1.1/*.sql))

DATA_built = osv--$(EXTVERSION).sql osv--1.0--1.1.sql
DATA = osv--1.0.sql

REGRESS = \
	schema \
	soft_delete \
	errors \
	compliance \
	users_api \
	uploads \
	quiz \
	rooms \
	activity \
	gamification \
	sample_data \
	embedding \
	search \
	retention \
	vector_outbox \
	backup \
	read_only
REGRESS_OPTS = --temp-config=test/osv.conf --temp-instance=./tmp_check

ISOLATION = \
	soft_delete_race \
	badge_criteria_cache \
	award_points \
	join_room \
	upsert_auth0_user \
	archive_twice \
	archive_inserts \
	vector_outbox
ISOLATION_OPTS = --inputdir=test --temp-config=test/osv_isolation.conf --temp-instance=./tmp_check_iso --load-extension=osv

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

# Lets scripts read the test lists: make -s print-REGRESS
print-%:
	@echo $($*)
