/*-------------------------------------------------------------------------
 *
 * vector_sql.c
 *		SQL entry points of the vector layer in Qdrant mode.
 *
 * Everything here runs in the calling backend, inside the caller's
 * transaction; nothing starts or commits one.  osv.vector_sync() runs the
 * whole claim, send, record cycle (sync_engine.c) in the caller's
 * transaction, holding the row locks of the claimed outbox entries during
 * the HTTP calls; osv.vector_sync_claim() and osv.vector_sync_complete()
 * are its first and last step on their own.  osv.vector_resync() and
 * osv.vector_reconcile() only enqueue (outbox.c); osv.qdrant_search()
 * reads Qdrant and checks the hits against osv.summaries (AccessShareLock
 * through SPI), or, while Qdrant cannot answer and osv.search_fallback is
 * on, runs the exact scan of exact_scan.c (AccessShareLock on
 * osv.summaries) and counts it in shared memory (osv.c);
 * osv.qdrant_delete_user_points() deletes a user's points
 * at once for an erasure.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "osv.h"
#include "outbox.h"
#include "qdrant.h"
#include "reconcile.h"
#include "reembedding.h"
#include "settings.h"
#include "spi_plan.h"
#include "sync_engine.h"
#include "vector_check.h"

/* Erasure sweeps sent by one call of osv.vector_sync() at most. */
#define SWEEPS_PER_CALL 64

/* Raise an error unless osv.qdrant_url is set. */
static void
require_qdrant(void)
{
	if (!qdrant_configured())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("osv.qdrant_url is not set"),
				 errdetail("osv runs in the embedded mode, without Qdrant."),
				 errhint("Set osv.qdrant_url in postgresql.conf and reload the configuration.")));
}

/*
 * Refuse a function that writes, to the outbox or to Qdrant, in a read-only
 * transaction: on a hot standby (osv.qdrant_url is usually the primary's
 * there too) and where the caller asked for one.  PostgreSQL's own error
 * (SQLSTATE 25006), raised before any request reaches Qdrant: a function
 * that calls Qdrant first and writes the outbox after would otherwise
 * change Qdrant and fail only then, and osv.qdrant_delete_user_points()
 * writes nothing in the database at all.
 */
static void
require_writable(const char *function_name)
{
	PreventCommandIfReadOnly(function_name);
}

/*
 * osv.vector_sync(max_entries integer DEFAULT NULL) RETURNS bigint
 *
 * Drains the outbox in the calling session, within the caller's
 * transaction: claim, send and record run batch after batch until nothing
 * is due, max_entries entries were claimed or the target fails (reported
 * as a WARNING; the failure is recorded like the worker's); then, unless
 * the target failed, the erasure sweeps that are due are sent.  Returns
 * the entries completed.
 */
PG_FUNCTION_INFO_V1(osv_vector_sync);
Datum
osv_vector_sync(PG_FUNCTION_ARGS)
{
	int64		remaining = PG_INT64_MAX;
	uint64		completed = 0;
	VsClaimCursor cursor = VS_CLAIM_CURSOR_START;
	MemoryContext batch_cxt;
	MemoryContext old;
	bool		target_failed = false;

	require_writable("osv.vector_sync()");
	if (!PG_ARGISNULL(0))
	{
		remaining = PG_GETARG_INT32(0);
		if (remaining < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_entries must be positive"),
					 errdetail("max_entries is %lld.", (long long) remaining),
					 errhint("Pass NULL to drain every due entry that is not locked by another transaction.")));
	}
	require_qdrant();

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "osv vector sync batch",
									  ALLOCSET_DEFAULT_SIZES);

	while (remaining > 0)
	{
		VsBatch		batch;
		long		wait_ms;
		int			n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(batch_cxt);
		old = MemoryContextSwitchTo(batch_cxt);

		spi_connect();
		if (sync_target_backing_off(&wait_ms))
		{
			SPI_finish();
			MemoryContextSwitchTo(old);
			break;
		}
		n = sync_claim((int) Min(remaining, (int64) osv_vector_sync_batch_size), 0, &cursor, &batch, batch_cxt);
		SPI_finish();
		if (n == 0)
		{
			MemoryContextSwitchTo(old);
			break;
		}
		remaining -= n;

		sync_send(&batch);

		spi_connect();
		completed += sync_record(&batch, NULL);
		SPI_finish();
		MemoryContextSwitchTo(old);

		if (batch.target_failed)
		{
			qdrant_raise(WARNING, &batch.target_error);
			target_failed = true;
			break;
		}
	}

	/* Then the erasure sweeps that are due, as the worker sends them. */
	if (!target_failed)
	{
		VsSweep    *sweeps;
		int			nsweeps = 0;
		long		wait_ms;

		old = MemoryContextSwitchTo(batch_cxt);
		spi_connect();
		if (!sync_target_backing_off(&wait_ms))
			nsweeps = sync_claim_sweeps(SWEEPS_PER_CALL, 0, &sweeps, batch_cxt);
		if (nsweeps > 0)
		{
			QdrantError err;
			bool		ok = sync_send_sweeps(sweeps, nsweeps, &err);
			bool		any_done = false;

			for (int i = 0; i < nsweeps; i++)
				any_done |= sweeps[i].done;
			sync_record_sweeps(sweeps, nsweeps);
			sync_record_target(ok ? NULL : &err, any_done);
			if (!ok)
				qdrant_raise(WARNING, &err);
		}
		SPI_finish();
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(batch_cxt);
	PG_RETURN_INT64((int64) completed);
}

/*
 * osv.vector_sync_claim(max_entries integer)
 * RETURNS TABLE (claim_id bigint, summary_id bigint, version bigint,
 *				  upsert boolean)
 *
 * The claim step on its own, for external drainers and for tests of the
 * outbox's concurrency: claims up to max_entries due entries exactly as
 * osv.vector_sync() does and returns them with their desired state.
 */
PG_FUNCTION_INFO_V1(osv_vector_sync_claim);
Datum
osv_vector_sync_claim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		limit = PG_GETARG_INT32(0);
	VsClaimCursor cursor = VS_CLAIM_CURSOR_START;
	VsBatch		batch;

	require_writable("osv.vector_sync_claim()");
	if (limit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_entries must be positive"),
				 errdetail("max_entries is %d.", limit)));
	InitMaterializedSRF(fcinfo, 0);
	spi_connect();
	(void) sync_claim(limit, 0, &cursor, &batch, rsinfo->econtext->ecxt_per_query_memory);
	SPI_finish();
	for (int i = 0; i < batch.n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(batch.claim_id);
		values[1] = Int64GetDatum(batch.entries[i].summary_id);
		values[2] = Int64GetDatum(batch.entries[i].version);
		values[3] = BoolGetDatum(batch.entries[i].upsert);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * osv.vector_sync_complete(claim_id bigint, summary_ids bigint[])
 * RETURNS bigint
 *
 * The record step on its own: the listed entries of the claim reached
 * Qdrant (they are deleted unless changed meanwhile), the others of the
 * claim are released.  Returns the entries completed.
 */
PG_FUNCTION_INFO_V1(osv_vector_sync_complete);
Datum
osv_vector_sync_complete(PG_FUNCTION_ARGS)
{
	int64		claim_id = PG_GETARG_INT64(0);
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	VsBatch		batch;
	uint64		completed;

	require_writable("osv.vector_sync_complete()");
	deconstruct_array(ids, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	memset(&batch, 0, sizeof(batch));
	batch.claim_id = claim_id;
	batch.n = 0;
	batch.entries = palloc0(sizeof(VsEntry) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("summary_ids must not contain NULL elements")));
		batch.entries[batch.n].summary_id = DatumGetInt64(elems[i]);
		batch.entries[batch.n].outcome = VS_DONE;
		batch.n++;
	}
	batch.any_sent = n > 0;
	spi_connect();
	completed = sync_record(&batch, NULL);
	/* The entries of the claim that were not listed are released as they are. */
	{
		Oid			argtype = INT8OID;
		Datum		arg = Int64GetDatum(claim_id);

		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
					" SET claim_id = NULL, claimed_version = NULL, lease_until = NULL"
					" WHERE o.claim_id OPERATOR(pg_catalog.=) $1",
					1, &argtype, &arg, false, 0);
	}
	SPI_finish();
	PG_RETURN_INT64((int64) completed);
}

/*
 * osv.vector_resync() RETURNS bigint
 *
 * Enqueues every live summary that has an embedding (a backfill after
 * Qdrant is configured, or a repair).  Returns how many were enqueued.  It
 * does not mark the target synced: only the worker's reconcile, which also
 * deletes the points of summaries that are gone, does.
 */
PG_FUNCTION_INFO_V1(osv_vector_resync);
Datum
osv_vector_resync(PG_FUNCTION_ARGS)
{
	uint64		n;

	require_writable("osv.vector_resync()");
	require_qdrant();
	spi_connect();
	n = outbox_enqueue_all_live();
	SPI_finish();
	outbox_wake_worker_at_commit();
	PG_RETURN_INT64((int64) n);
}

/*
 * osv.vector_reconcile() RETURNS bigint
 *
 * Anti-entropy: compares the collection with the summaries page by page
 * (reconcile.c: memory of one page, whatever the size of the collection)
 * and enqueues every point that has no live summary with an embedding
 * (orphans), whose version (the fingerprint of its content) differs from
 * the summary's (stale), and every live summary with an embedding that has
 * no point (missing).  It only enqueues: the sync then derives each
 * point's state from the summary at send time, so a summary written during
 * the scroll is never wrongly deleted.  Returns how many entries were
 * enqueued.
 */
PG_FUNCTION_INFO_V1(osv_vector_reconcile);
Datum
osv_vector_reconcile(PG_FUNCTION_ARGS)
{
	VsReconcile rc;
	uint64		enqueued = 0;
	MemoryContext page_cxt;
	MemoryContext old;

	require_writable("osv.vector_reconcile()");
	require_qdrant();
	reembedding_qdrant_layout();

	page_cxt = AllocSetContextCreate(CurrentMemoryContext, "osv reconcile page",
									 ALLOCSET_DEFAULT_SIZES);
	reconcile_start(&rc);
	while (!rc.done)
	{
		QdrantScrollPage page;
		QdrantError err;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(page_cxt);
		old = MemoryContextSwitchTo(page_cxt);
		if (!reconcile_fetch(&rc, &page, &err))
			qdrant_raise(ERROR, &err);
		spi_connect();
		enqueued += reconcile_apply(&rc, &page);
		SPI_finish();
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(page_cxt);
	if (enqueued > 0)
		outbox_wake_worker_at_commit();
	PG_RETURN_INT64((int64) enqueued);
}

/* The exact scan's SQL entry point (exact_scan.c). */
extern PGDLLEXPORT Datum osv_search_embedded(PG_FUNCTION_ARGS);

/*
 * Why the sync target is backing off (osv.vector_sync_targets.retry_at is
 * ahead), as a detail sentence, or NULL when it is not.  A search does not
 * wait for an outage's connect timeout while the sync knows of it.
 */
static char *
target_backing_off_detail(void)
{
	char	   *detail = NULL;
	Oid			status_relid;
	Oid			argtype = BOOLOID;
	Datum		show_error;

	/*
	 * The target's last error is for those who may read the sync status
	 * (osv_monitor, osv_admin): the caller, not the owner of a SECURITY
	 * DEFINER function on the way here.
	 */
	status_relid = get_relname_relid("vector_sync_status", get_namespace_oid("osv", false));
	show_error = BoolGetDatum(OidIsValid(status_relid) &&
							  pg_class_aclcheck(status_relid, GetOuterUserId(), ACL_SELECT) == ACLCHECK_OK);

	spi_connect();
	spi_execute(SPI_OK_SELECT, "SELECT CASE WHEN $1"
				" THEN pg_catalog.format('The Qdrant sync target is backing off until %s after: %s.',"
				"   t.retry_at, COALESCE(t.last_error, 'no error recorded'))"
				" ELSE pg_catalog.format('The Qdrant sync target is backing off until %s.', t.retry_at) END"
				" FROM osv.vector_sync_targets t WHERE t.target OPERATOR(pg_catalog.=) 'qdrant'"
				" AND t.retry_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()"
				/* A refusal (qdrant.c: "... (HTTP status 401)") is no outage. */
				" AND (t.last_error IS NULL"
				"      OR t.last_error OPERATOR(pg_catalog.!~) '\\(HTTP status 40[13]\\)$')",
				1, &argtype, &show_error, true, 1);
	if (SPI_processed > 0)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		detail = SPI_palloc(strlen(value) + 1);
		strcpy(detail, value);
	}
	SPI_finish();
	return detail;
}

/*
 * Answer osv.qdrant_search() from the exact in-database scan, with the same
 * arguments, result columns and live-summary rule: say so with a NOTICE
 * (the cause in its detail) and count it for osv.vector_sync_status.
 */
static Datum
search_fallback(FunctionCallInfo fcinfo, const char *detail)
{
	LOCAL_FCINFO(scan, 6);

	ereport(NOTICE,
			(errmsg("Qdrant is unavailable; answering from the in-database scan"),
			 errdetail_internal("%s", detail),
			 errhint("Set osv.search_fallback to off to get an error instead.")));
	osv_shmem_count_search_fallback();

	InitFunctionCallInfoData(*scan, fcinfo->flinfo, 6, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	for (int i = 0; i < 5; i++)
		scan->args[i] = fcinfo->args[i];
	scan->args[5].value = (Datum) 0;
	scan->args[5].isnull = true;	/* exclude_user_id: vector_search's filter */
	return osv_search_embedded(scan);
}

/*
 * osv.qdrant_search(query real[], k integer, user_id bigint, topic text,
 *					 exclude_summary_id bigint)
 * RETURNS TABLE (summary_id bigint, score real)
 *
 * Nearest neighbours from Qdrant, best first; NULL filters are not
 * applied.  Qdrant holds only live summaries, but its deletes lag behind
 * the outbox, so the ids are checked against osv.summaries and trashed or
 * deleted ones dropped (a few extra are asked for to make up for them).
 *
 * While Qdrant cannot answer (the sync target is backing off, or the query
 * fails as the sync would retry it: no connection, time-out, 408, 429,
 * 5xx, an unreadable answer) and osv.search_fallback is on, the exact scan
 * answers instead (search_fallback()); a refusal (401/403, 400) stays an
 * error, since waiting does not fix it.
 */
PG_FUNCTION_INFO_V1(osv_qdrant_search);
Datum
osv_qdrant_search(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *query;
	int			k;
	int64		user_id = 0;
	int64		exclude_id = 0;
	char	   *topic = NULL;
	QdrantError err;
	QdrantHit  *hits;
	int			nhits;
	int			returned = 0;
	char	   *backing_off;

	require_qdrant();
	(void) vector_check_query_argument(fcinfo, 0, &query);
	k = vector_check_k(fcinfo, 1);
	if (!PG_ARGISNULL(2))
		user_id = PG_GETARG_INT64(2);
	if (!PG_ARGISNULL(3))
		topic = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
		exclude_id = PG_GETARG_INT64(4);

	if (osv_search_fallback && (backing_off = target_backing_off_detail()) != NULL)
		return search_fallback(fcinfo, backing_off);

	/*
	 * No check of the collection here: a search must not create it (the sync
	 * does, and resends everything when it does); a collection that does not
	 * exist yet holds nothing.
	 */
	if (!qdrant_query((float4 *) ARR_DATA_PTR(query), ARR_DIMS(query)[0],
					  k + 10,
					  PG_ARGISNULL(2) ? NULL : &user_id, topic,
					  PG_ARGISNULL(4) ? NULL : &exclude_id,
					  &hits, &nhits, &err))
	{
		if (osv_search_fallback && err.kind == QDRANT_RETRY)
			return search_fallback(fcinfo,
								   psprintf("The query of Qdrant failed: %s.", err.message));
		if (err.kind != QDRANT_GONE)
			qdrant_raise(ERROR, &err);
		nhits = 0;
	}
	InitMaterializedSRF(fcinfo, 0);

	if (nhits > 0)
	{
		Datum	   *ids = palloc(sizeof(Datum) * nhits);
		Oid			argtype = INT8ARRAYOID;
		Datum		arg;
		bool	   *live;

		for (int i = 0; i < nhits; i++)
			ids[i] = Int64GetDatum(hits[i].id);
		arg = sync_int8_array(ids, nhits);
		spi_connect();
		spi_execute(SPI_OK_SELECT, "SELECT u.ord::int4 FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(id, ord)"
					" JOIN osv.summaries s ON s.id OPERATOR(pg_catalog.=) u.id"
					" WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL",
					1, &argtype, &arg, true, 0);
		live = palloc0(sizeof(bool) * nhits);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
														  SPI_tuptable->tupdesc, 1, &isnull));

			if (ord >= 1 && ord <= nhits)
				live[ord - 1] = true;
		}
		SPI_finish();

		for (int i = 0; i < nhits && returned < k; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			if (!live[i])
				continue;
			values[0] = Int64GetDatum(hits[i].id);
			values[1] = Float4GetDatum(hits[i].score);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			returned++;
		}
	}
	return (Datum) 0;
}

/*
 * osv.qdrant_delete_user_points(user_id bigint) RETURNS void
 *
 * Deletes every point of the user from Qdrant right away (the GDPR
 * erasure; the outbox deletes them too, but only once the rows are gone).
 * Does nothing in the embedded mode or when the collection does not exist.
 */
PG_FUNCTION_INFO_V1(osv_qdrant_delete_user_points);
Datum
osv_qdrant_delete_user_points(PG_FUNCTION_ARGS)
{
	int64		user_id = PG_GETARG_INT64(0);
	QdrantError err;

	require_writable("osv.qdrant_delete_user_points()");
	if (!qdrant_configured())
		PG_RETURN_VOID();
	if (!qdrant_delete_user(user_id, &err) && err.kind != QDRANT_GONE)
		qdrant_raise(ERROR, &err);
	PG_RETURN_VOID();
}

/*
 * osv.search_fallback_stats(OUT search_fallbacks bigint,
 *							 OUT last_search_fallback_at timestamptz)
 *
 * The searches answered by the in-database scan while Qdrant could not
 * answer, since the server started, and when the last one was; NULLs where
 * osv is not preloaded (no shared memory to count in).
 */
PG_FUNCTION_INFO_V1(osv_search_fallback_stats);
Datum
osv_search_fallback_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2] = {0, 0};
	bool		nulls[2] = {true, true};
	uint64		count;
	TimestampTz last;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (osv_shmem_search_fallbacks(&count, &last))
	{
		values[0] = Int64GetDatum((int64) count);
		nulls[0] = false;
		values[1] = TimestampTzGetDatum(last);
		nulls[1] = last == 0;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
