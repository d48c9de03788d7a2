/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The skeleton shared by osv's background workers.
 *
 * Both static workers ("osv vector sync", sync_worker.c; "osv scheduler",
 * scheduler.c) run the same frame, in their own process:
 *	 osv_worker_start:	standard SIGHUP and SIGTERM handlers (SIGTERM ends
 *						the worker at the next CHECK_FOR_INTERRUPTS as
 *						"administrator command"), the connection to
 *						osv.database, a worker memory context;
 *	 osv_worker_wait:	sleep on the latch (exit with the postmaster),
 *						check interrupts, reload the configuration;
 *						a heartbeat before and after the sleep;
 *	 osv_worker_run:	run one step of the worker and survive an ERROR;
 *						the worker's state (health.c) says so;
 *	 osv_worker_transaction_begin/_end: one transaction with a snapshot
 *						and SPI per batch.
 *
 * Error strategy, the same for both: an ERROR that escapes a step is
 * logged, its transaction aborted and the state cleaned as PostgresMain
 * does for a failed query; the worker goes on and chooses how long to wait
 * before it tries again (OSV_WORKER_RESTART_TIME for the vector sync, the
 * next run for the scheduler).  FATAL (SIGTERM, a failed connection) ends
 * the process; the postmaster starts it again after
 * OSV_WORKER_RESTART_TIME.  No locks of its own.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "health.h"
#include "roles.h"
#include "settings.h"
#include "spi_plan.h"
#include "worker.h"

/*
 * Start a worker: signal handlers, the connection to osv.database as
 * osv.worker_role (a FATAL when either does not exist, or when the role is
 * a superuser) and "name" as application name.  Returns a
 * memory context of the worker, child of TopMemoryContext, made current.
 */
MemoryContext
osv_worker_start(const char *name)
{
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* As osv.worker_role, never a superuser, with a pinned search_path. */
	roles_worker_connect(name);
	pgstat_report_appname(name);

	cxt = AllocSetContextCreate(TopMemoryContext, "osv worker", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	return cxt;
}

/*
 * Sleep up to timeout_ms (not at all when 0) or until the latch is set,
 * then handle interrupts and a pending reload.  Returns whether the
 * configuration was reloaded.
 */
bool
osv_worker_wait(long timeout_ms)
{
	/* A heartbeat per turn of the loop (health.c): the next one is due then. */
	health_heartbeat(Max(timeout_ms, 0));
	if (timeout_ms > 0)
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	health_heartbeat(-1);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		return true;
	}
	return false;
}

/*
 * Run step(arg), outside any transaction, with loop_cxt reset and current;
 * the step starts and ends its own transactions.  An ERROR that escapes
 * it is logged and its transaction aborted, as PostgresMain does for a
 * failed query; returns false then.  loop_cxt is current on return.
 */
bool
osv_worker_run(MemoryContext loop_cxt, void (*step) (void *arg), void *arg)
{
	volatile bool ok = true;

	MemoryContextReset(loop_cxt);
	MemoryContextSwitchTo(loop_cxt);
	PG_TRY();
	{
		step(arg);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		EmitErrorReport();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(loop_cxt);
		FlushErrorState();
		debug_query_string = NULL;
		pgstat_report_activity(STATE_IDLE, NULL);
		RESUME_INTERRUPTS();
		health_set_state("recovering from an error");
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(loop_cxt);
	return ok;
}

/*
 * Start a transaction of a background worker (outside any transaction):
 * a new statement time (else now() would stay at the worker's start), a
 * snapshot, SPI, and "activity" (a string that outlives the transaction,
 * or NULL) as the worker's query in pg_stat_activity.
 */
void
osv_worker_transaction_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	spi_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (activity != NULL)
	{
		debug_query_string = activity;
		pgstat_report_activity(STATE_RUNNING, activity);
	}
}

/*
 * Commit it and show the worker idle.  The current memory context is then
 * whatever it was before the transaction started: the caller's to set.
 */
void
osv_worker_transaction_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	debug_query_string = NULL;
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}
