/*-------------------------------------------------------------------------
 *
 * osv.c
 *		Module entry point of osv: settings, workers, shared memory.
 *
 * _PG_init runs in every process that loads osv.so: the postmaster when
 * osv is in shared_preload_libraries, and otherwise each backend on the
 * first call of one of osv's C functions.  It defines the settings
 * (settings.c).  When preloaded it also registers the static background
 * workers (osv.vector_sync_workers of type "osv vector sync",
 * sync_worker.c; "osv scheduler", scheduler.c) and installs the shared
 * memory hooks.
 *
 * The shared memory is one small struct: the pgprocno and pid of each
 * running vector sync worker (osv.vector_sync_workers of them, worker 0
 * first), so that a backend can set worker 0's latch when a transaction
 * that enqueued outbox entries commits, and a worker that found a full
 * batch can wake the others.  It is created in the
 * postmaster under AddinShmemInitLock; afterwards it is read and written
 * without a lock: each worker writes its slot once at start and once at
 * exit, and a reader that sees a stale value at worst sets the latch of a
 * process that is gone (harmless) or misses a wake-up that the worker's
 * naptime makes up for.  It also counts the searches answered from the
 * in-database scan while Qdrant could not answer (vector_sql.c), with
 * atomics: any backend adds, the status view reads.  Two more areas, each
 * with its own locking, hold the workers' liveness (health.c) and the
 * progress of long work (progress.c).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/osv.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "health.h"
#include "osv.h"
#include "progress.h"
#include "settings.h"
#include "worker.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

/* Shared state: where to find the vector sync workers' latches. */
typedef struct OsvSharedState
{
	/* Per worker of the pool, by its number; -1 and 0 when it does not run */
	int			sync_worker_pgprocno[OSV_MAX_SYNC_WORKERS];
	pid_t		sync_worker_pid[OSV_MAX_SYNC_WORKERS];
	pg_atomic_uint64 search_fallbacks;	/* searches answered by the scan */
	pg_atomic_uint64 last_search_fallback;	/* TimestampTz of the last one */
} OsvSharedState;

static OsvSharedState *osv_shared = NULL;

/* Chained shared memory hooks (preloaded only). */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Reserve osv's shared memory. */
static void
osv_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(OsvSharedState)));
	RequestAddinShmemSpace(health_shmem_size());
	RequestAddinShmemSpace(progress_shmem_size());
}

/* Create or attach to osv's shared memory. */
static void
osv_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	osv_shared = ShmemInitStruct("osv", sizeof(OsvSharedState), &found);
	if (!found)
	{
		for (int i = 0; i < OSV_MAX_SYNC_WORKERS; i++)
		{
			osv_shared->sync_worker_pgprocno[i] = -1;
			osv_shared->sync_worker_pid[i] = 0;
		}
		pg_atomic_init_u64(&osv_shared->search_fallbacks, 0);
		pg_atomic_init_u64(&osv_shared->last_search_fallback, 0);
	}
	health_shmem_init();
	progress_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

bool
osv_shmem_attached(void)
{
	return osv_shared != NULL;
}

/* on_shmem_exit callback of the published worker number "arg". */
static void
unpublish_sync_worker(int code, Datum arg)
{
	int			index = DatumGetInt32(arg);

	if (osv_shared != NULL && osv_shared->sync_worker_pid[index] == MyProcPid)
	{
		osv_shared->sync_worker_pgprocno[index] = -1;
		osv_shared->sync_worker_pid[index] = 0;
	}
}

/* Publish the calling process as vector sync worker number "index". */
void
osv_shmem_publish_sync_worker(int index)
{
	Assert(index >= 0 && index < OSV_MAX_SYNC_WORKERS);
	if (osv_shared == NULL)
		return;
	osv_shared->sync_worker_pid[index] = MyProcPid;
	osv_shared->sync_worker_pgprocno[index] = MyProc->pgprocno;
	on_shmem_exit(unpublish_sync_worker, Int32GetDatum(index));
}

/* Set the latch of vector sync worker number "index", if it runs. */
static bool
wake_one(int index)
{
	int			procno = osv_shared->sync_worker_pgprocno[index];

	if (procno < 0)
		return false;
	SetLatch(&ProcGlobal->allProcs[procno].procLatch);
	return true;
}

/*
 * Wake the vector sync worker 0, which wakes the others when it finds a
 * full batch (osv_shmem_wake_sync_pool()); all of them while worker 0
 * does not run, so that the pool drains without it.
 */
void
osv_shmem_wake_sync_worker(void)
{
	if (osv_shared == NULL)
		return;
	if (wake_one(0))
		return;
	for (int i = 1; i < OSV_MAX_SYNC_WORKERS; i++)
		(void) wake_one(i);
}

/* Wake every vector sync worker but number "self" (a burst to drain). */
void
osv_shmem_wake_sync_pool(int self)
{
	if (osv_shared == NULL)
		return;
	for (int i = 0; i < OSV_MAX_SYNC_WORKERS; i++)
	{
		if (i != self)
			(void) wake_one(i);
	}
}

/* Count a search answered by the in-database scan instead of Qdrant. */
void
osv_shmem_count_search_fallback(void)
{
	if (osv_shared == NULL)
		return;
	pg_atomic_fetch_add_u64(&osv_shared->search_fallbacks, 1);
	pg_atomic_write_u64(&osv_shared->last_search_fallback,
						(uint64) GetCurrentTimestamp());
}

/*
 * The searches answered by the scan since the server started, and when the
 * last one was (0 when none); false when there is no shared memory.
 */
bool
osv_shmem_search_fallbacks(uint64 *count, TimestampTz *last)
{
	if (osv_shared == NULL)
		return false;
	*count = pg_atomic_read_u64(&osv_shared->search_fallbacks);
	*last = (TimestampTz) pg_atomic_read_u64(&osv_shared->last_search_fallback);
	return true;
}

/*
 * Register one of osv's static background workers (postmaster, while
 * shared_preload_libraries are loaded).  All connect to osv.database and
 * write, so they start once recovery has finished; an exit other than 0
 * (a crash, a FATAL) restarts them after OSV_WORKER_RESTART_TIME.  The
 * type is what pg_stat_activity.backend_type shows (the same for every
 * worker of the vector sync pool, whose number is "index", its main
 * argument); the name, "type" for the first and "type index" for the
 * others, is also the worker's application_name.
 */
static void
register_worker(const char *type, const char *function_name, int index)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = OSV_WORKER_RESTART_TIME;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "osv");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function_name);
	if (index == 0)
		snprintf(worker.bgw_name, BGW_MAXLEN, "%s", type);
	else
		snprintf(worker.bgw_name, BGW_MAXLEN, "%s %d", type, index);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	worker.bgw_main_arg = Int32GetDatum(index);
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Module load callback.
 */
void
_PG_init(void)
{
	/* pg_upgrade's binary-upgrade mode must not start anything. */
	if (IsBinaryUpgrade)
		return;

	settings_define();

	if (osv_preloaded)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = osv_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = osv_shmem_startup;
		if (osv_vector_sync_worker)
		{
			for (int i = 0; i < osv_vector_sync_workers; i++)
				register_worker("osv vector sync", "osv_vector_sync_main", i);
		}
		if (osv_scheduler_worker)
			register_worker("osv scheduler", "osv_scheduler_main", 0);
	}
}
