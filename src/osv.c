/*-------------------------------------------------------------------------
 *
 * osv.c
 *		Module entry point of osv: settings, workers, shared memory.
 *
 * _PG_init runs in every process that loads osv.so: the postmaster when
 * osv is in shared_preload_libraries, and otherwise each backend on the
 * first call of one of osv's C functions.  It defines the settings
 * (settings.c).  When preloaded it also registers the two static
 * background workers ("osv vector sync", sync_worker.c; "osv scheduler",
 * scheduler.c) and installs the shared memory hooks.
 *
 * The shared memory is one small struct: the pgprocno and pid of the
 * running vector sync worker, so that a backend can set its latch when a
 * transaction that enqueued outbox entries commits.  It is created in the
 * postmaster under AddinShmemInitLock; afterwards it is read and written
 * without a lock: the worker writes it once at start and once at exit,
 * and a reader that sees a stale value at worst sets the latch of a
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

/* Shared state: where to find the vector sync worker's latch. */
typedef struct OsvSharedState
{
	int			sync_worker_pgprocno;	/* -1 when no worker runs */
	pid_t		sync_worker_pid;
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
		osv_shared->sync_worker_pgprocno = -1;
		osv_shared->sync_worker_pid = 0;
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

/* on_shmem_exit callback of the published worker. */
static void
unpublish_sync_worker(int code, Datum arg)
{
	if (osv_shared != NULL && osv_shared->sync_worker_pid == MyProcPid)
	{
		osv_shared->sync_worker_pgprocno = -1;
		osv_shared->sync_worker_pid = 0;
	}
}

void
osv_shmem_publish_sync_worker(void)
{
	if (osv_shared == NULL)
		return;
	osv_shared->sync_worker_pid = MyProcPid;
	osv_shared->sync_worker_pgprocno = MyProc->pgprocno;
	on_shmem_exit(unpublish_sync_worker, (Datum) 0);
}

void
osv_shmem_wake_sync_worker(void)
{
	int			procno;

	if (osv_shared == NULL)
		return;
	procno = osv_shared->sync_worker_pgprocno;
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
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
 * shared_preload_libraries are loaded).  Both connect to osv.database and
 * write, so they start once recovery has finished; an exit other than 0
 * (a crash, a FATAL) restarts them after OSV_WORKER_RESTART_TIME.  The
 * name is also the type that pg_stat_activity.backend_type shows.
 */
static void
register_worker(const char *name, const char *function_name)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = OSV_WORKER_RESTART_TIME;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "osv");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function_name);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	worker.bgw_main_arg = (Datum) 0;
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
			register_worker("osv vector sync", "osv_vector_sync_main");
		if (osv_scheduler_worker)
			register_worker("osv scheduler", "osv_scheduler_main");
	}
}
