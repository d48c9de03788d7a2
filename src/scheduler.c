/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The "osv scheduler" background worker: runs the retention jobs.
 *
 * When osv is in shared_preload_libraries and osv.scheduler_worker is on,
 * _PG_init registers one static background worker (bgw_type "osv
 * scheduler", shown as backend_type in pg_stat_activity).  It connects to
 * osv.database and runs CALL osv.run_retention_batched() once at start
 * and then every osv.retention_interval seconds, sleeping on its latch in
 * between; the interval is reloadable, and a changed interval counts from
 * the start of the last run.  The jobs themselves, their advisory locks and
 * their records in osv.job_runs live in src/sql/retention.sql.
 *
 * The procedure commits after each batch of each job (and after each whole
 * activity-log partition it archives), so a run holds row locks for one
 * batch and ACCESS EXCLUSIVE on osv.activity_logs for one partition's
 * DETACH and ATTACH at a time; it runs each batch in a subtransaction so
 * that one failing job is recorded and does not stop the others.  An error
 * that escapes anyway (say, osv is of an older version without
 * run_retention_batched) is logged, the transaction is aborted
 * and the worker waits for the next run; it does not exit (the skeleton
 * of worker.c, shared with the vector sync worker).  Where the
 * extension is not installed the worker idles quietly.  If osv.database
 * does not exist, the connection fails (FATAL) and the postmaster starts the
 * worker again after OSV_WORKER_RESTART_TIME seconds; so it does after
 * SIGTERM (pg_terminate_backend), which ends the worker as "administrator
 * command".
 *
 * It also reconciles Qdrant with the database every osv.reconcile_interval
 * (counted from the start of the last run recorded in osv.job_runs, so a
 * restart does not run it again), streamed page by page by reconcile.c:
 * a transaction per page, none open while Qdrant is read, and the run
 * recorded in osv.job_runs as job "vector_reconcile".  In the embedded mode
 * (osv.qdrant_url empty) there is nothing to reconcile and nothing is
 * recorded; a reload that sets a URL brings the next run forward.
 *
 * It publishes its state ("idle", "running retention jobs", "waiting for
 * extension") and a heartbeat in shared memory (health.c); a long run
 * shows its progress (osv.progress) and its batches advance the heartbeat.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "health.h"
#include "qdrant.h"
#include "reconcile.h"
#include "settings.h"
#include "worker.h"

/*
 * The statement of one run.  The procedure commits after each batch of each
 * job, so its INOUT results (jobs, failed jobs, rows affected) arrive at the
 * end, for the DEBUG1 line.
 */
static const char *const retention_call = "CALL osv.run_retention_batched()";

/*
 * Run the retention jobs once, by CALL osv.run_retention_batched(), which
 * commits after each batch of each job: its transactions hold row locks for
 * one batch and ACCESS EXCLUSIVE on activity_logs for one partition at a
 * time.  A procedure can commit only when called from a portal at top level
 * (after its COMMIT, PL/pgSQL needs the portal to hold its snapshots), so
 * the CALL runs as exec_simple_query runs a statement: parsed and planned
 * under a snapshot, then run in a portal of its own, its INOUT results
 * going to a tuplestore in the worker's "context".  Must be called outside
 * a transaction; errors propagate to the caller, which aborts the
 * transaction.  Idles when the extension is not installed in this database.
 */
static void
run_retention_transaction(void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	RawStmt    *parsetree;
	List	   *plantree_list;
	Portal		portal;
	DestReceiver *receiver;
	Tuplestorestate *results;
	TupleTableSlot *slot;
	QueryCompletion qc;
	int64		values[3] = {0, 0, 0};

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (!OidIsValid(get_extension_oid("osv", true)))
	{
		CommitTransactionCommand();
		health_set_state("waiting for extension");
		ereport(DEBUG1,
				(errmsg("osv scheduler: extension \"osv\" is not installed in database \"%s\", nothing to do",
						osv_database)));
		return;
	}
	debug_query_string = retention_call;
	pgstat_report_activity(STATE_RUNNING, retention_call);
	health_set_state("running retention jobs");

	/*
	 * NB: the plan, the receiver and the tuplestore live in "context", as
	 * exec_simple_query's live in MessageContext: the procedure's COMMITs
	 * free the transaction's memory while they are still in use.
	 */
	MemoryContextSwitchTo(context);
	PushActiveSnapshot(GetTransactionSnapshot());
	parsetree = linitial_node(RawStmt, pg_parse_query(retention_call));
	plantree_list = pg_plan_queries(pg_analyze_and_rewrite_fixedparams(parsetree, retention_call,
																	   NULL, 0, NULL),
									retention_call, CURSOR_OPT_PARALLEL_OK, NULL);
	PopActiveSnapshot();

	portal = CreatePortal("osv scheduler", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, retention_call, CMDTAG_CALL, plantree_list, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	results = tuplestore_begin_heap(false, false, work_mem);
	receiver = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(receiver, results, context, false, NULL, NULL);
	(void) PortalRun(portal, FETCH_ALL, true, true, receiver, receiver, &qc);
	MemoryContextSwitchTo(context);
	receiver->rDestroy(receiver);

	if (portal->tupDesc != NULL && portal->tupDesc->natts == 3)
	{
		slot = MakeSingleTupleTableSlot(portal->tupDesc, &TTSOpsMinimalTuple);
		if (tuplestore_gettupleslot(results, true, false, slot))
		{
			for (int col = 1; col <= 3; col++)
			{
				bool		isnull;
				Datum		d = slot_getattr(slot, col, &isnull);

				if (!isnull)
					values[col - 1] = col == 3 ? DatumGetInt64(d) : DatumGetInt32(d);
			}
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	tuplestore_end(results);
	PortalDrop(portal, false);
	CommitTransactionCommand();
	debug_query_string = NULL;
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	health_set_state("idle");

	ereport(DEBUG1,
			(errmsg("osv scheduler: retention run finished: %lld jobs, %lld failed, %lld rows affected",
					(long long) values[0], (long long) values[1], (long long) values[2])));
}

/*
 * The reconcile of Qdrant, as a step of the worker skeleton: when it is due
 * (*(TimestampTz *) arg, set to the next time) and the extension is
 * installed, run it (reconcile.c).
 */
static void
run_reconcile_step(void *arg)
{
	TimestampTz *next_reconcile = (TimestampTz *) arg;
	MemoryContext context = CurrentMemoryContext;
	bool		due;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (!OidIsValid(get_extension_oid("osv", true)))
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(context);
		*next_reconcile = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  (int64) osv_retention_interval * 1000);
		return;
	}
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
	if (!qdrant_configured())
	{
		/* The embedded mode: no Qdrant, nothing to run or record. */
		int64		interval_ms = settings_interval_ms(osv_reconcile_interval);

		*next_reconcile = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  interval_ms > 0 ? interval_ms : (int64) osv_retention_interval * 1000);
		return;
	}
	osv_worker_transaction_begin(NULL);
	*next_reconcile = reconcile_next_run();
	osv_worker_transaction_end();
	MemoryContextSwitchTo(context);
	due = GetCurrentTimestamp() >= *next_reconcile;
	if (due)
	{
		health_set_state("reconciling");
		(void) reconcile_run_job(context);
		health_set_state("idle");
		MemoryContextSwitchTo(context);
		osv_worker_transaction_begin(NULL);
		*next_reconcile = reconcile_next_run();
		osv_worker_transaction_end();
		MemoryContextSwitchTo(context);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Entry point of the scheduler worker.
 */
void
osv_scheduler_main(Datum main_arg)
{
	MemoryContext context;
	TimestampTz last_start = 0;
	TimestampTz next_run;
	TimestampTz next_reconcile;
	MemoryContext reconcile_cxt;

	context = osv_worker_start("osv scheduler");
	health_worker_start(OSV_WORKER_SCHEDULER);
	/* Not under "context": each retention run resets it, children included. */
	reconcile_cxt = AllocSetContextCreate(TopMemoryContext, "osv scheduler reconcile",
										  ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("osv scheduler started in database \"%s\"", osv_database),
			 errdetail("The retention jobs run every %d seconds.", osv_retention_interval)));

	/* The first run is right after start. */
	next_run = GetCurrentTimestamp();
	next_reconcile = next_run;

	for (;;)
	{
		if (GetCurrentTimestamp() >= next_run)
		{
			/*
			 * An error that escapes the run is logged and its transaction
			 * aborted; the jobs run again at the next run.
			 */
			last_start = GetCurrentTimestamp();
			(void) osv_worker_run(context, run_retention_transaction, NULL);
			next_run = TimestampTzPlusMilliseconds(last_start,
												   (int64) osv_retention_interval * 1000);
		}

		/* When due, as osv.job_runs says; an error waits for the next run. */
		if (GetCurrentTimestamp() >= next_reconcile &&
			!osv_worker_run(reconcile_cxt, run_reconcile_step, &next_reconcile))
			next_reconcile = next_run;

		if (osv_worker_wait(TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
															Min(next_run, next_reconcile))))
		{
			/* A changed osv.reconcile_interval is read from osv.job_runs. */
			next_reconcile = GetCurrentTimestamp();
			/* A changed interval counts from the start of the last run. */
			next_run = TimestampTzPlusMilliseconds(last_start,
												   (int64) osv_retention_interval * 1000);
			ereport(DEBUG1,
					(errmsg("osv scheduler: configuration reloaded, retention interval %d seconds",
							osv_retention_interval)));
		}
	}
}
