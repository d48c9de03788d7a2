# osv: PGXS build of the Open Study Volt data-layer extension.
#
# The install script osv--$(EXTVERSION).sql is concatenated from the domain
# files in src/sql in the order of SQL_SOURCES (later files use objects of
# earlier ones).  Released upgrade scripts osv--A--B.sql are written by hand.
#
# Tests: "test/run" builds, installs into a private copy of the PostgreSQL
# installation and runs every suite; "make installcheck" runs the pg_regress
# suite against the system installation (after "make install").

EXTENSION  = osv
EXTVERSION = 1.0
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
	src/scheduler.o \
	src/http.o \
	src/json_float.o \
	src/qdrant.o \
	src/outbox.o \
	src/sync_engine.o \
	src/sync_worker.o \
	src/vector_sql.o

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
	src/sql/retention.sql

DATA_built = osv--$(EXTVERSION).sql
DATA = $(filter-out osv--$(EXTVERSION).sql,$(wildcard osv--*--*.sql))

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
	vector_outbox
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

# Lets scripts read the test lists: make -s print-REGRESS
print-%:
	@echo $($*)
