/*-------------------------------------------------------------------------
 *
 * reconcile.c
 *		The streamed reconcile of Qdrant with the summaries.
 *
 * One implementation, page by page, for the three callers: the SQL
 * function osv.vector_reconcile() (vector_sql.c, a backend, every page in
 * the caller's transaction), the vector sync worker after a target change
 * (sync_worker.c, one page a round, each in a transaction of its own) and
 * the scheduler worker every osv.reconcile_interval (scheduler.c calls
 * reconcile_run_job(): a transaction a page, then one that records the
 * run in osv.job_runs).
 *
 * Qdrant's scroll returns the points in id order, and each page says where
 * the next one starts (next_page_offset), so a page covers the id range
 * [its start, the next page's start) completely.  reconcile_fetch() reads a
 * page (HTTP only: no SPI, no transaction needed); reconcile_apply()
 * (SPI connected, in a transaction: row locks on the outbox entries it
 * enqueues, AccessShareLock on osv.summaries) compares it with the live
 * summaries of the same range and enqueues every point without a live
 * summary with an embedding (orphaned), every point whose fingerprint
 * (payload "version") differs from the summary's (stale) and every live
 * summary of the range that has no point (missing).  Only the cursor and
 * the counts outlive a page, so memory is bounded by the page size however
 * large the collection is.
 *
 * An ERROR ends a reconcile's row in osv.progress (progress.c): the
 * scheduler's run ends it as the ERROR passes; the sync worker starts its
 * reconcile over after an ERROR.
 *
 * It only enqueues: the sync derives each point's state from the summary
 * when it sends it, so a summary written during the reconcile is never
 * wrongly deleted, and the outbox trigger queues every change made after a
 * page was compared.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/reconcile.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "outbox.h"
#include "progress.h"
#include "qdrant.h"
#include "reconcile.h"
#include "reembedding.h"
#include "settings.h"
#include "spi_plan.h"
#include "sync_engine.h"
#include "worker.h"

/* Start a reconcile at the first point of the collection. */
void
reconcile_start(VsReconcile *rc)
{
	memset(rc, 0, sizeof(*rc));
}

/*
 * Read the next page of the collection into *page (palloc'd in the current
 * context).  Before the first page the collection is checked (and created
 * if needed: qdrant_ensure_collection()).  A collection that is gone reads
 * as an empty last page: every live summary of the rest of the range is
 * then missing, and the sync creates the collection again.  Returns false
 * and fills *err when Qdrant fails.  No SPI, no transaction needed.
 */
bool
reconcile_fetch(VsReconcile *rc, QdrantScrollPage *page, QdrantError *err)
{
	memset(page, 0, sizeof(*page));
	if (rc->pages == 0)
	{
		bool		created;

		if (!qdrant_ensure_collection(&created, err))
			return false;
	}
	if (!qdrant_scroll(rc->has_offset ? &rc->offset : NULL, RECONCILE_PAGE, page, err))
	{
		if (err->kind != QDRANT_GONE)
			return false;
		qdrant_forget_collection();
		memset(page, 0, sizeof(*page));
	}
	return true;
}

/*
 * Compare a page with the summaries of its id range and enqueue what
 * differs; then move the cursor to the next page.  SPI connected, in a
 * transaction.  Returns how many entries were enqueued.
 */
uint64
reconcile_apply(VsReconcile *rc, const QdrantScrollPage *page)
{
	Datum	   *page_ids = palloc(sizeof(Datum) * Max(page->npoints, 1));
	Datum	   *bad = palloc(sizeof(Datum) * Max(page->npoints, 1));
	int			nbad = 0;
	uint64		enqueued = 0;
	Datum		ids_arg;
	int			j = 0;

	for (int i = 0; i < page->npoints; i++)
		page_ids[i] = Int64GetDatum(page->ids[i]);
	osv_progress_advance("reconcile", page->npoints);
	ids_arg = sync_int8_array(page_ids, page->npoints);

	/* The page's points: orphaned or stale.  Both lists are in id order. */
	if (page->npoints > 0)
	{
		Oid			argtype = INT8ARRAYOID;

		spi_execute(SPI_OK_SELECT, "SELECT s.id, " POINT_COLUMNS " FROM osv.summaries s"
					" WHERE s.id OPERATOR(pg_catalog.=) ANY ($1)"
					"   AND s.deleted_at IS NULL AND s.embedding IS NOT NULL"
					" ORDER BY s.id",
					1, &argtype, &ids_arg, true, 0);
	}
	for (int i = 0; i < page->npoints; i++)
	{
		int64		id = page->ids[i];
		bool		live = false;
		bool		same = false;

		while (j < (int) SPI_processed)
		{
			bool		isnull;
			int64		sid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
														  SPI_tuptable->tupdesc, 1, &isnull));
			QdrantPoint p;
			char	   *problem;

			if (sid < id)
			{
				j++;
				continue;
			}
			if (sid == id)
			{
				live = true;
				if (sync_read_point(id, j, 2, &p, &problem) && problem == NULL)
					same = page->has_version[i] && page->versions[i] == p.version;
				j++;
			}
			break;
		}
		if (!live)
			rc->orphaned++;
		else if (!same)
			rc->stale++;
		if (!live || !same)
			bad[nbad++] = Int64GetDatum(id);
	}
	if (page->npoints > 0)
		SPI_freetuptable(SPI_tuptable);
	if (nbad > 0)
		enqueued += outbox_enqueue_array(sync_int8_array(bad, nbad));

	/* The live summaries of the page's id range that have no point. */
	{
		Oid			types[3] = {INT8OID, INT8OID, INT8ARRAYOID};
		Datum		values[3];
		uint64		n;

		/* Inclusive bounds: a next page starts after this page's points. */
		values[0] = Int64GetDatum(rc->has_offset ? rc->offset : PG_INT64_MIN);
		values[1] = Int64GetDatum(page->has_next ? page->next_offset - 1 : PG_INT64_MAX);
		values[2] = ids_arg;
		n = outbox_enqueue("INSERT INTO osv.vector_outbox AS o (summary_id)"
						   " SELECT s.id FROM osv.summaries s"
						   " WHERE s.id OPERATOR(pg_catalog.>=) $1 AND s.id OPERATOR(pg_catalog.<=) $2"
						   "   AND s.deleted_at IS NULL AND s.embedding IS NOT NULL"
						   "   AND NOT (s.id OPERATOR(pg_catalog.=) ANY ($3))"
						   OUTBOX_SET_CLAUSE, 3, types, values);
		rc->missing += n;
		enqueued += n;
	}

	rc->pages++;
	rc->scrolled += page->npoints;
	if (page->has_next)
	{
		rc->offset = page->next_offset;
		rc->has_offset = true;
	}
	else
		rc->done = true;
	return enqueued;
}

/* The points a reconcile fixed so far (enqueued to be deleted or upserted). */
int64
reconcile_fixed(const VsReconcile *rc)
{
	return rc->orphaned + rc->stale + rc->missing;
}

/* ------------------------------------------------------------------------
 * The scheduled reconcile (the "osv scheduler" worker)
 * ------------------------------------------------------------------------
 */

/*
 * Record a run of the job "vector_reconcile" in osv.job_runs: affected =
 * the points fixed, details = what was found (JSON).  SPI connected.
 */
static void
record_run(const VsReconcile *rc, TimestampTz started, const char *outcome,
		   const char *error, const char *reason)
{
	Oid			types[6] = {TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;

	values[0] = TimestampTzGetDatum(started);
	values[1] = Int64GetDatum(reconcile_fixed(rc));
	values[2] = CStringGetTextDatum(outcome);
	values[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[3] = error ? ' ' : 'n';
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[4] = reason ? ' ' : 'n';
	values[5] = CStringGetTextDatum(psprintf("{\"pages\": %lld, \"scrolled\": %lld, \"orphaned\": %lld, \"stale\": %lld, \"missing\": %lld, \"deleted\": %lld, \"upserted\": %lld}",
											 (long long) rc->pages, (long long) rc->scrolled,
											 (long long) rc->orphaned, (long long) rc->stale,
											 (long long) rc->missing, (long long) rc->orphaned,
											 (long long) (rc->stale + rc->missing)));
	ret = SPI_execute_with_args("INSERT INTO osv.job_runs (job, started_at, finished_at, affected, outcome, error, reason, details)"
								" VALUES ('vector_reconcile', $1, pg_catalog.clock_timestamp(), $2, $3, $4, $5, $6::jsonb)",
								6, types, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not record the run of vector_reconcile: SPI result %d", ret);
}

/*
 * Run the whole reconcile as the scheduler does (no transaction open on
 * entry): each page read from Qdrant with no transaction open, then
 * compared and enqueued in a transaction of its own, so that locks are held
 * for one page; memory of one page ("page_cxt" is reset for each).  The run
 * is recorded in osv.job_runs: succeeded with what it fixed, failed with
 * Qdrant's error when Qdrant could not be read (what earlier pages fixed
 * stays enqueued).  Qdrant must be configured.  Returns the points fixed.
 */
int64
reconcile_run_job(MemoryContext page_cxt)
{
	VsReconcile rc;
	TimestampTz started = GetCurrentTimestamp();
	QdrantError err;
	bool		failed = false;

	reconcile_start(&rc);
	/* The collection behind the alias is the one of the current model. */
	osv_worker_transaction_begin("osv scheduler: reading the embedding model");
	reembedding_qdrant_layout();
	osv_worker_transaction_end();
	MemoryContextSwitchTo(page_cxt);
	osv_progress_begin("reconcile", osv_qdrant_url, -1, true);

	/*
	 * An ERROR ends the run (the scheduler tries again at its next run):
	 * its progress row goes with it, rather than show a reconcile that no
	 * process is doing until then.
	 */
	PG_TRY();
	{
		while (!rc.done)
		{
			QdrantScrollPage page;

			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(page_cxt);
			MemoryContextSwitchTo(page_cxt);
			if (!reconcile_fetch(&rc, &page, &err))
			{
				failed = true;
				break;
			}
			osv_worker_transaction_begin("osv scheduler: reconciling Qdrant");
			if (reconcile_apply(&rc, &page) > 0)
				outbox_wake_worker_at_commit();
			osv_worker_transaction_end();
		}
	}
	PG_FINALLY();
	{
		osv_progress_end("reconcile");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(page_cxt);	/* err survives: no reset here */

	osv_worker_transaction_begin("osv scheduler: recording the reconcile");
	if (failed)
		record_run(&rc, started, "failed", err.message,
				   psprintf("Qdrant could not be read after %lld pages; the summaries of the pages read were enqueued",
							(long long) rc.pages));
	else
		record_run(&rc, started, "succeeded", NULL, NULL);
	osv_worker_transaction_end();
	MemoryContextSwitchTo(page_cxt);

	if (failed)
		ereport(LOG,
				(errmsg("osv scheduler could not reconcile Qdrant: %s", err.message),
				 err.detail ? errdetail_internal("%s", err.detail) : 0));
	else
		ereport(DEBUG1,
				(errmsg("osv scheduler: reconcile of Qdrant finished: %lld pages, %lld points fixed",
						(long long) rc.pages, (long long) reconcile_fixed(&rc))));
	return reconcile_fixed(&rc);
}

/*
 * When the scheduler should reconcile next (SPI connected): after the
 * last recorded run, osv.reconcile_interval, or, after a failed run,
 * osv.retention_interval if that is shorter (Qdrant may be back sooner).
 * Counting from osv.job_runs, a restart does not run it again.  Now when
 * no run is recorded.
 */
TimestampTz
reconcile_next_run(void)
{
	bool		isnull;
	Datum		d;
	int64		interval_ms = settings_interval_ms(osv_reconcile_interval);

	spi_execute(SPI_OK_SELECT, "SELECT r.started_at, r.outcome OPERATOR(pg_catalog.=) 'failed' FROM osv.job_runs r"
				" WHERE r.job OPERATOR(pg_catalog.=) 'vector_reconcile'"
				" ORDER BY r.started_at DESC LIMIT 1",
				0, NULL, NULL, true, 1);
	if (SPI_processed == 0 || interval_ms < 0)
		return GetCurrentTimestamp();
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (DatumGetBool(d))
		interval_ms = Min(interval_ms, (int64) osv_retention_interval * 1000);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return TimestampTzPlusMilliseconds(DatumGetTimestampTz(d), interval_ms);
}
