/*-------------------------------------------------------------------------
 *
 * progress.c
 *		Progress of long work in shared memory slots, like
 *		pg_stat_progress_*: the backfill and the reconcile of the vector
 *		sync worker, the archive and the batched purge of the retention
 *		jobs.  The view osv.progress shows them.
 *
 * Writers: the process doing the work, through the C API of progress.h
 * (the vector sync worker, sync_worker.c) or the SQL functions
 * osv.progress_begin/_advance/_end (CALL osv.run_job_batched, in whatever
 * session or worker runs it).  A slot belongs to one process and one kind
 * of work; a slot begun shared (the backfill, by vector sync worker 0) is
 * advanced by the other workers of the pool too.  Readers: osv.progress_slots() in any backend.  One spinlock
 * guards every slot, held for a scan of OSV_PROGRESS_SLOTS slots or one
 * copy of them, never across anything that can fail.  No transaction, no
 * table: a procedure that commits per batch keeps its slot across its
 * commits.  A slot is freed by its end, at the exit of its process, and,
 * for a slot begun from SQL, at the abort of a top-level transaction (a
 * cancelled CALL), so that no row outlives the work it describes.
 *
 * The slots exist only when osv is preloaded (osv.c's shmem hooks);
 * without them, and when every slot is taken, the calls do nothing.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "health.h"
#include "progress.h"

/* Pieces of long work shown at once at most. */
#define OSV_PROGRESS_SLOTS 16
#define PROGRESS_KIND_LEN 16
#define PROGRESS_DETAIL_LEN 96

typedef struct OsvProgressSlot
{
	pid_t		pid;			/* 0 when free */
	bool		from_sql;		/* freed at the abort of a transaction */
	bool		shared;			/* advanced by other processes too */
	char		kind[PROGRESS_KIND_LEN];
	char		detail[PROGRESS_DETAIL_LEN];
	TimestampTz started_at;
	TimestampTz updated_at;
	int64		done;
	int64		total;			/* -1: unknown */
	bool		estimated;
} OsvProgressSlot;

typedef struct OsvProgressShared
{
	slock_t		mutex;
	OsvProgressSlot slots[OSV_PROGRESS_SLOTS];
} OsvProgressShared;

static OsvProgressShared *progress_shared = NULL;

/* Whether this process registered its exit and abort callbacks. */
static bool progress_callbacks_registered = false;

/* The kinds of work osv.progress_begin() accepts. */
static const char *const progress_kinds[] = {
	"backfill", "reconcile", "archive", "purge", "retention", "storage", NULL
};

Size
progress_shmem_size(void)
{
	return MAXALIGN(sizeof(OsvProgressShared));
}

/* Create or attach to the slots (postmaster, under AddinShmemInitLock). */
void
progress_shmem_init(void)
{
	bool		found;

	progress_shared = ShmemInitStruct("osv progress", progress_shmem_size(), &found);
	if (!found)
	{
		memset(progress_shared, 0, progress_shmem_size());
		SpinLockInit(&progress_shared->mutex);
	}
}

/* Free this process's slots (all, or only those begun from SQL). */
static void
release_own_slots(bool only_sql)
{
	if (progress_shared == NULL)
		return;
	SpinLockAcquire(&progress_shared->mutex);
	for (int i = 0; i < OSV_PROGRESS_SLOTS; i++)
	{
		OsvProgressSlot *s = &progress_shared->slots[i];

		if (s->pid == MyProcPid && (!only_sql || s->from_sql))
			s->pid = 0;
	}
	SpinLockRelease(&progress_shared->mutex);
}

static void
progress_exit(int code, Datum arg)
{
	release_own_slots(false);
}

static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		release_own_slots(true);
}

/* The slot of this process for "kind", or NULL.  Spinlock held. */
static OsvProgressSlot *
find_own_slot(const char *kind)
{
	for (int i = 0; i < OSV_PROGRESS_SLOTS; i++)
	{
		OsvProgressSlot *s = &progress_shared->slots[i];

		if (s->pid == MyProcPid && strcmp(s->kind, kind) == 0)
			return s;
	}
	return NULL;
}

/*
 * The slot that osv_progress_advance_shared() advances for "kind": this
 * process's own, else a slot of that kind begun shared by another process.
 * Spinlock held.
 */
static OsvProgressSlot *
find_shared_slot(const char *kind)
{
	OsvProgressSlot *own = find_own_slot(kind);

	if (own != NULL)
		return own;
	for (int i = 0; i < OSV_PROGRESS_SLOTS; i++)
	{
		OsvProgressSlot *s = &progress_shared->slots[i];

		if (s->pid != 0 && s->shared && strcmp(s->kind, kind) == 0)
			return s;
	}
	return NULL;
}

static void
progress_begin(const char *kind, const char *detail, int64 total, bool estimated,
			   bool from_sql, bool shared)
{
	OsvProgressSlot *s;
	TimestampTz now;

	if (progress_shared == NULL)
		return;
	if (!progress_callbacks_registered)
	{
		on_shmem_exit(progress_exit, (Datum) 0);
		RegisterXactCallback(progress_xact_callback, NULL);
		progress_callbacks_registered = true;
	}
	now = GetCurrentTimestamp();
	SpinLockAcquire(&progress_shared->mutex);
	s = find_own_slot(kind);
	for (int i = 0; s == NULL && i < OSV_PROGRESS_SLOTS; i++)
	{
		if (progress_shared->slots[i].pid == 0)
			s = &progress_shared->slots[i];
	}
	if (s != NULL)
	{
		s->pid = MyProcPid;
		s->from_sql = from_sql;
		s->shared = shared;
		strlcpy(s->kind, kind, PROGRESS_KIND_LEN);
		strlcpy(s->detail, detail != NULL ? detail : "", PROGRESS_DETAIL_LEN);
		s->started_at = now;
		s->updated_at = now;
		s->done = 0;
		s->total = total;
		s->estimated = estimated;
	}
	SpinLockRelease(&progress_shared->mutex);
}

void
osv_progress_begin(const char *kind, const char *detail, int64 total, bool estimated)
{
	progress_begin(kind, detail, total, estimated, false, false);
}

void
osv_progress_begin_shared(const char *kind, const char *detail, int64 total, bool estimated)
{
	progress_begin(kind, detail, total, estimated, false, true);
}

static void
progress_advance(const char *kind, int64 n, bool shared)
{
	OsvProgressSlot *s;
	TimestampTz now;

	if (progress_shared == NULL)
		return;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&progress_shared->mutex);
	s = shared ? find_shared_slot(kind) : find_own_slot(kind);
	if (s != NULL)
	{
		s->done += n;
		s->updated_at = now;
	}
	SpinLockRelease(&progress_shared->mutex);

	/* Work in progress is a sign of life of a worker that does it. */
	health_heartbeat(-1);
}

void
osv_progress_advance(const char *kind, int64 n)
{
	progress_advance(kind, n, false);
}

void
osv_progress_advance_shared(const char *kind, int64 n)
{
	progress_advance(kind, n, true);
}

void
osv_progress_end(const char *kind)
{
	OsvProgressSlot *s;

	if (progress_shared == NULL)
		return;
	SpinLockAcquire(&progress_shared->mutex);
	s = find_own_slot(kind);
	if (s != NULL)
		s->pid = 0;
	SpinLockRelease(&progress_shared->mutex);
}

bool
osv_progress_active(const char *kind)
{
	bool		found;

	if (progress_shared == NULL)
		return false;
	SpinLockAcquire(&progress_shared->mutex);
	found = find_own_slot(kind) != NULL;
	SpinLockRelease(&progress_shared->mutex);
	return found;
}

/* The kind argument of the SQL functions, checked. */
static char *
kind_arg(text *arg)
{
	char	   *kind = text_to_cstring(arg);

	for (int i = 0; progress_kinds[i] != NULL; i++)
	{
		if (strcmp(kind, progress_kinds[i]) == 0)
			return kind;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized kind of work \"%s\"", kind),
			 errhint("The kinds are backfill, reconcile, archive, purge, retention and storage.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * osv.progress_begin(kind text, total bigint, estimated boolean, detail
 * text) RETURNS void: begin (again) the work "kind" of this session.
 * total NULL: unknown.
 */
PG_FUNCTION_INFO_V1(osv_progress_begin_sql);
Datum
osv_progress_begin_sql(PG_FUNCTION_ARGS)
{
	char	   *kind;
	int64		total = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind of work must not be null")));
	kind = kind_arg(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1) && total < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("total of work must not be negative")));
	progress_begin(kind, PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
				   total, PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2), true, false);
	PG_RETURN_VOID();
}

/* osv.progress_advance(kind text, n bigint) RETURNS void (STRICT). */
PG_FUNCTION_INFO_V1(osv_progress_advance_sql);
Datum
osv_progress_advance_sql(PG_FUNCTION_ARGS)
{
	char	   *kind = kind_arg(PG_GETARG_TEXT_PP(0));
	int64		n = PG_GETARG_INT64(1);

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("progress must not go back"),
				 errdetail("%lld units were given.", (long long) n)));
	osv_progress_advance(kind, n);
	PG_RETURN_VOID();
}

/* osv.progress_end(kind text) RETURNS void (STRICT). */
PG_FUNCTION_INFO_V1(osv_progress_end_sql);
Datum
osv_progress_end_sql(PG_FUNCTION_ARGS)
{
	osv_progress_end(kind_arg(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * osv.progress_slots() RETURNS TABLE (kind text, detail text, pid integer,
 * started_at timestamptz, updated_at timestamptz, done bigint, total
 * bigint, total_is_estimate boolean): the slots in use, as they are.
 */
PG_FUNCTION_INFO_V1(osv_progress_slots);
Datum
osv_progress_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OsvProgressSlot copy[OSV_PROGRESS_SLOTS];

	InitMaterializedSRF(fcinfo, 0);
	if (progress_shared == NULL)
		return (Datum) 0;
	SpinLockAcquire(&progress_shared->mutex);
	memcpy(copy, progress_shared->slots, sizeof(copy));
	SpinLockRelease(&progress_shared->mutex);

	for (int i = 0; i < OSV_PROGRESS_SLOTS; i++)
	{
		Datum		values[8];
		bool		nulls[8];
		OsvProgressSlot *s = &copy[i];

		if (s->pid == 0)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(s->kind);
		if (s->detail[0] == '\0')
			nulls[1] = true;
		else
			values[1] = CStringGetTextDatum(s->detail);
		values[2] = Int32GetDatum((int32) s->pid);
		values[3] = TimestampTzGetDatum(s->started_at);
		values[4] = TimestampTzGetDatum(s->updated_at);
		values[5] = Int64GetDatum(s->done);
		if (s->total < 0)
			nulls[6] = nulls[7] = true;
		else
		{
			values[6] = Int64GetDatum(s->total);
			values[7] = BoolGetDatum(s->estimated);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
