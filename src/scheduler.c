/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The "osv scheduler" background worker: runs the retention jobs.
 *
 * When osv is in shared_preload_libraries and osv.scheduler_worker is on,
 * _PG_init registers one static background worker (bgw_type "osv
 * scheduler", shown as backend_type in pg_stat_activity).  It connects to
 * osv.database and runs SELECT ... FROM osv.run_retention() once at start
 * and then every osv.retention_interval seconds, sleeping on its latch in
 * between; the interval is reloadable, and a changed interval counts from
 * the start of the last run.  The jobs themselves, their advisory locks and
 * their records in osv.job_runs live in src/sql/retention.sql.
 *
 * A run first archives the backlog of whole activity-log partitions, if
 * any, one partition per transaction, as CALL
 * osv.archive_activity_logs_stepwise() does: each of those transactions
 * holds ACCESS EXCLUSIVE on osv.activity_logs only for one partition's
 * DETACH and ATTACH (about 10 ms), so writers never wait for a whole
 * backlog.  Then osv.run_retention() runs in one transaction (with a
 * snapshot and SPI); it takes only the locks of the jobs (its archive job
 * finds only the rows of the default partition left), and runs each job
 * in a subtransaction so that one failing job is recorded and does not
 * stop the others.  An error that escapes anyway (say, osv is of an older
 * version without run_retention) is logged, the transaction is aborted
 * and the worker waits for the next run; it does not exit (the skeleton
 * of worker.c, shared with the vector sync worker).  Where the
 * extension is not installed the worker idles quietly.  If osv.database
 * does not exist, the connection fails (FATAL) and the postmaster starts the
 * worker again after OSV_WORKER_RESTART_TIME seconds; so it does after
 * SIGTERM (pg_terminate_backend), which ends the worker as "administrator
 * command".
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "settings.h"
#include "worker.h"

/*
 * The statement of one run: the number of failed jobs and the rows all jobs
 * affected, for the DEBUG1 line.
 */
static const char *const retention_query =
"SELECT pg_catalog.count(*) FILTER (WHERE affected IS NULL), "
"COALESCE(pg_catalog.sum(affected), 0)::pg_catalog.int8, "
"pg_catalog.count(*) "
"FROM osv.run_retention()";

/* A step of the archive of a backlog, and what is left of it after. */
static const char *const archive_step_query =
"SELECT osv.archive_activity_logs(osv.setting_interval('osv.activity_log_retention'), 1)";
static const char *const archivable_query =
"SELECT osv.archivable_partitions(osv.setting_interval('osv.activity_log_retention'))::pg_catalog.int8";

/*
 * Start a transaction for a step of a run, with a snapshot and SPI
 * (osv_worker_transaction_begin: now() moves on, as the jobs' cutoffs
 * need).  Returns false, with the transaction committed again, when the
 * extension is not installed in this database (and says so at DEBUG1 if
 * "say").
 */
static bool
step_begin(bool say)
{
	osv_worker_transaction_begin(NULL);
	if (!OidIsValid(get_extension_oid("osv", true)))
	{
		osv_worker_transaction_end();
		if (say)
			ereport(DEBUG1,
					(errmsg("osv scheduler: extension \"osv\" is not installed in database \"%s\", nothing to do",
							osv_database)));
		return false;
	}
	return true;
}

/*
 * Run a query of one result row of bigint columns, shown in
 * pg_stat_activity; step_column() reads the row.
 */
static void
step_query(const char *query)
{
	int			ret;

	debug_query_string = query;
	pgstat_report_activity(STATE_RUNNING, query);
	ret = SPI_execute(query, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/* Column "col" of the row of the last step_query(), 0 for NULL. */
static int64
step_column(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * In a transaction of its own: archive one whole partition of activity_logs
 * older than the retention if "archive", then count the ones left.
 * Returns that count, or -1 when the extension is not installed.  Must be
 * called outside a transaction; errors propagate to the caller.
 */
static int
archive_step_transaction(bool archive)
{
	int			remaining;

	if (!step_begin(false))
		return -1;
	if (archive)
		step_query(archive_step_query);
	/* A statement of its own: it sees the partition just archived. */
	step_query(archivable_query);
	remaining = (int) step_column(1);
	osv_worker_transaction_end();
	return remaining;
}

/*
 * Archive the backlog a partition at a time, until none is left or a step
 * makes no progress (a partition that cannot be locked in time is left for
 * the next run).  Without a backlog it only counts; osv.run_retention()'s
 * archive job then does the usual run.
 */
static void
archive_backlog(void *arg)
{
	int			previous = INT_MAX;
	int			remaining = archive_step_transaction(false);

	while (remaining > 0 && remaining < previous)
	{
		CHECK_FOR_INTERRUPTS();
		previous = remaining;
		remaining = archive_step_transaction(true);
	}
}

/*
 * Run the retention jobs once, in a transaction of its own.  Must be called
 * outside a transaction; errors propagate to the caller, which aborts the
 * transaction.  Idles when the extension is not installed in this
 * database.
 */
static void
run_retention_transaction(void *arg)
{
	int64		failed;
	int64		affected;
	int64		jobs;

	if (!step_begin(true))
		return;
	step_query(retention_query);
	failed = step_column(1);
	affected = step_column(2);
	jobs = step_column(3);
	osv_worker_transaction_end();

	ereport(DEBUG1,
			(errmsg("osv scheduler: retention run finished: %lld jobs, %lld failed, %lld rows affected",
					(long long) jobs, (long long) failed, (long long) affected)));
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

	context = osv_worker_start("osv scheduler");
	ereport(LOG,
			(errmsg("osv scheduler started in database \"%s\"", osv_database),
			 errdetail("The retention jobs run every %d seconds.", osv_retention_interval)));

	/* The first run is right after start. */
	next_run = GetCurrentTimestamp();

	for (;;)
	{
		if (GetCurrentTimestamp() >= next_run)
		{
			/*
			 * An error in a step is logged and its transaction aborted; the
			 * jobs run again at the next run.
			 */
			last_start = GetCurrentTimestamp();
			(void) osv_worker_run(context, archive_backlog, NULL);
			(void) osv_worker_run(context, run_retention_transaction, NULL);
			next_run = TimestampTzPlusMilliseconds(last_start,
												   (int64) osv_retention_interval * 1000);
		}

		if (osv_worker_wait(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_run)))
		{
			/* A changed interval counts from the start of the last run. */
			next_run = TimestampTzPlusMilliseconds(last_start,
												   (int64) osv_retention_interval * 1000);
			ereport(DEBUG1,
					(errmsg("osv scheduler: configuration reloaded, retention interval %d seconds",
							osv_retention_interval)));
		}
	}
}
