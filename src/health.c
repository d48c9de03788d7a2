/*-------------------------------------------------------------------------
 *
 * health.c
 *		Liveness of osv's background workers: each publishes its pid, the
 *		database it serves, its state and a heartbeat in shared memory;
 *		osv.worker_status() reads them.
 *
 * Writers: the "osv vector sync" and "osv scheduler" workers, each its
 * own slot, at start, at every state change and at every turn of its loop
 * (worker.c, sync_worker.c, scheduler.c), and at exit (on_shmem_exit).
 * Readers: any backend calling osv.worker_status() (the status views).
 * Each slot has a spinlock held for a few stores or one copy, never
 * across anything that can fail; no other lock, no transaction, no table
 * write: a heartbeat costs nothing measurable.  The slots are created in
 * the postmaster (osv.c's shmem hooks) and exist only when osv is
 * preloaded; without them the publishing calls do nothing and
 * osv.worker_status() says that the workers do not run because osv is
 * not preloaded.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/health.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "health.h"
#include "settings.h"

/* Longest state phrase kept (longer ones are cut). */
#define HEALTH_STATE_LEN 48

typedef struct OsvWorkerSlot
{
	slock_t		mutex;
	pid_t		pid;			/* 0 when the worker does not run */
	char		database[NAMEDATALEN];	/* osv.database it connected to */
	char		state[HEALTH_STATE_LEN];
	TimestampTz started_at;		/* of the running (or last) process */
	TimestampTz state_since;
	TimestampTz heartbeat;		/* 0: none yet */
	TimestampTz heartbeat_due;	/* 0: working, nothing promised */
} OsvWorkerSlot;

static OsvWorkerSlot *health_slots = NULL;

/* The slot of this process, when it is one of the workers. */
static OsvWorkerSlot *my_slot = NULL;

static const char *const worker_names[OSV_NUM_WORKERS] = {
	"vector sync",
	"scheduler",
};

Size
health_shmem_size(void)
{
	return MAXALIGN(mul_size(sizeof(OsvWorkerSlot), OSV_NUM_WORKERS));
}

/* Create or attach to the slots (postmaster, under AddinShmemInitLock). */
void
health_shmem_init(void)
{
	bool		found;

	health_slots = ShmemInitStruct("osv worker health", health_shmem_size(), &found);
	if (!found)
	{
		memset(health_slots, 0, health_shmem_size());
		for (int i = 0; i < OSV_NUM_WORKERS; i++)
			SpinLockInit(&health_slots[i].mutex);
	}
}

/* on_shmem_exit callback: the worker is gone; its last state stays. */
static void
health_worker_exit(int code, Datum arg)
{
	OsvWorkerSlot *slot = my_slot;

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	if (slot->pid == MyProcPid)
		slot->pid = 0;
	SpinLockRelease(&slot->mutex);
	my_slot = NULL;
}

void
health_worker_start(OsvWorkerKind kind)
{
	OsvWorkerSlot *slot;
	TimestampTz now = GetCurrentTimestamp();

	if (health_slots == NULL)
		return;
	slot = &health_slots[kind];
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	strlcpy(slot->database, osv_database, NAMEDATALEN);
	strlcpy(slot->state, "starting", HEALTH_STATE_LEN);
	slot->started_at = now;
	slot->state_since = now;
	slot->heartbeat = now;
	slot->heartbeat_due = 0;
	SpinLockRelease(&slot->mutex);
	my_slot = slot;
	on_shmem_exit(health_worker_exit, (Datum) 0);
}

void
health_set_state(const char *state)
{
	OsvWorkerSlot *slot = my_slot;
	TimestampTz now;

	if (slot == NULL)
		return;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&slot->mutex);
	if (strncmp(slot->state, state, HEALTH_STATE_LEN - 1) != 0)
	{
		strlcpy(slot->state, state, HEALTH_STATE_LEN);
		slot->state_since = now;
	}
	slot->heartbeat = now;
	SpinLockRelease(&slot->mutex);
}

void
health_heartbeat(long next_ms)
{
	OsvWorkerSlot *slot = my_slot;
	TimestampTz now;

	if (slot == NULL)
		return;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&slot->mutex);
	slot->heartbeat = now;
	slot->heartbeat_due = next_ms >= 0 ? TimestampTzPlusMilliseconds(now, next_ms) : 0;
	SpinLockRelease(&slot->mutex);
}

/* A timestamp column, NULL for 0. */
static void
put_timestamp(Datum *values, bool *nulls, int col, TimestampTz t)
{
	if (t == 0)
		nulls[col] = true;
	else
		values[col] = TimestampTzGetDatum(t);
}

/*
 * osv.worker_status() RETURNS TABLE (worker text, pid integer, database
 * text, state text, state_since timestamptz, started_at timestamptz,
 * last_heartbeat timestamptz, heartbeat_due timestamptz)
 *
 * A row per static worker, also when it does not run: then pid is NULL
 * and state says why ("not preloaded", "disabled", "not running"); the
 * times of its last life stay.  A worker that serves (or would serve)
 * osv.database when that is not the current database is in state "other
 * database", whatever it does there.
 */
PG_FUNCTION_INFO_V1(osv_worker_status);
Datum
osv_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *this_database = get_database_name(MyDatabaseId);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < OSV_NUM_WORKERS; i++)
	{
		Datum		values[8];
		bool		nulls[8];
		OsvWorkerSlot copy;
		bool		enabled = (i == OSV_WORKER_VECTOR_SYNC) ? osv_vector_sync_worker : osv_scheduler_worker;

		memset(nulls, 0, sizeof(nulls));
		memset(&copy, 0, sizeof(copy));
		if (health_slots != NULL)
		{
			SpinLockAcquire(&health_slots[i].mutex);
			memcpy(&copy, &health_slots[i], sizeof(copy));
			SpinLockRelease(&health_slots[i].mutex);
		}

		values[0] = CStringGetTextDatum(worker_names[i]);
		if (copy.pid != 0)
		{
			values[1] = Int32GetDatum((int32) copy.pid);
			values[2] = CStringGetTextDatum(copy.database);
			/* Whatever it does, it does it for another database. */
			values[3] = CStringGetTextDatum(this_database != NULL && strcmp(copy.database, this_database) != 0
											? "other database" : copy.state);
		}
		else
		{
			nulls[1] = true;
			if (health_slots == NULL)
			{
				nulls[2] = true;
				values[3] = CStringGetTextDatum("not preloaded");
			}
			else
			{
				values[2] = CStringGetTextDatum(osv_database);
				if (!enabled)
					values[3] = CStringGetTextDatum("disabled");
				else if (this_database != NULL && strcmp(osv_database, this_database) != 0)
					values[3] = CStringGetTextDatum("other database");
				else
					values[3] = CStringGetTextDatum("not running");
			}
		}
		put_timestamp(values, nulls, 4, copy.pid != 0 ? copy.state_since : 0);
		put_timestamp(values, nulls, 5, copy.started_at);
		put_timestamp(values, nulls, 6, copy.heartbeat);
		put_timestamp(values, nulls, 7, copy.pid != 0 ? copy.heartbeat_due : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
