/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		The outbox trigger of osv.summaries and the enqueue statements.
 *
 * osv.vector_enqueue() runs in the writing backend, in the writing
 * transaction: it upserts a row of osv.vector_outbox (one row per summary,
 * coalesced by ON CONFLICT, so it takes the row lock of the entry until
 * the writer commits) and asks for the vector sync worker to be woken at
 * commit: an XactCallback sets the latch of worker 0 of the pool (osv.c),
 * never before commit, or the worker would not see the row.  A TRUNCATE of the table
 * replaces the whole outbox with the marker 0 (entries in flight stay, as
 * changes, and are sent again after it).  In the embedded mode
 * (osv.qdrant_url empty) nothing is enqueued, and the synced target is
 * forgotten, so that the worker reconciles the next one.
 *
 * The enqueue statements of the SQL entry points and of the sync engine
 * (every live summary, a list of ids) live here too, so that every
 * statement that writes the outbox's queue side is in one file.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/outbox.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/datum.h"
#include "utils/rel.h"

#include "osv.h"
#include "outbox.h"
#include "qdrant.h"
#include "spi_plan.h"
#include "trigger_check.h"

/* Per-backend wake-up state. */
static bool wake_callback_registered = false;
static bool wake_at_commit = false;

/* Local transaction that last forgot the synced target. */
static LocalTransactionId unsynced_lxid = InvalidLocalTransactionId;

static void
vs_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				osv_shmem_wake_sync_worker();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Ask for the vector sync worker to be woken when the current transaction
 * commits (never before: it would not see the entries).
 */
void
outbox_wake_worker_at_commit(void)
{
	if (!osv_shmem_attached())
		return;
	if (!wake_callback_registered)
	{
		RegisterXactCallback(vs_xact_callback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * Whether a summary row is a point in Qdrant: live with an embedding, or
 * with a new one (embedding_next, attno 0 before the update to 1.1 made
 * it) for the collection of a running re-embedding.
 */
static bool
row_is_point(HeapTuple tuple, TupleDesc desc, int deleted_attno, int embedding_attno)
{
	bool		isnull;
	int			next_attno = SPI_fnumber(desc, "embedding_next");

	(void) heap_getattr(tuple, deleted_attno, desc, &isnull);
	if (!isnull)
		return false;
	(void) heap_getattr(tuple, embedding_attno, desc, &isnull);
	if (isnull && next_attno > 0)
		(void) heap_getattr(tuple, next_attno, desc, &isnull);
	return !isnull;
}

/* Whether an attribute differs between two versions of a row. */
static bool
attr_changed(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc, int attno)
{
	bool		oldnull;
	bool		newnull;
	Datum		oldval = heap_getattr(oldtup, attno, desc, &oldnull);
	Datum		newval = heap_getattr(newtup, attno, desc, &newnull);
	Form_pg_attribute att = TupleDescAttr(desc, attno - 1);

	if (oldnull || newnull)
		return oldnull != newnull;
	if (datumIsEqual(oldval, newval, att->attbyval, att->attlen))
		return false;
	if (att->attlen == -1)
	{
		/* Same value, other representation (e.g. compressed)? */
		struct varlena *a = PG_DETOAST_DATUM_PACKED(oldval);
		struct varlena *b = PG_DETOAST_DATUM_PACKED(newval);

		return !(VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
				 memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0);
	}
	return true;
}

static int
attno_of(TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "osv.vector_enqueue() fired on a table without column \"%s\"", name);
	return attno;
}

/* Enqueue one summary (SPI connected). */
static void
enqueue_summary(int64 summary_id)
{
	Oid			argtype = INT8OID;
	Datum		arg = Int64GetDatum(summary_id);

	(void) outbox_enqueue("INSERT INTO osv.vector_outbox AS o (summary_id) VALUES ($1)"
						  OUTBOX_SET_CLAUSE, 1, &argtype, &arg);
}

/*
 * Run a statement that enqueues summaries (an INSERT ending with
 * OUTBOX_SET_CLAUSE), with a cached plan; returns how many.  SPI
 * connected.
 */
uint64
outbox_enqueue(const char *sql, int nargs, const Oid *argtypes,
			   const Datum *values)
{
	spi_execute(SPI_OK_INSERT, sql, nargs, argtypes, values, false, 0);
	return SPI_processed;
}

/* Enqueue every live summary with an embedding (SPI connected). */
uint64
outbox_enqueue_all_live(void)
{
	return outbox_enqueue("INSERT INTO osv.vector_outbox AS o (summary_id)"
						  " SELECT s.id FROM osv.summaries s"
						  " WHERE s.deleted_at IS NULL AND (s.embedding IS NOT NULL OR s.embedding_next IS NOT NULL)"
						  OUTBOX_SET_CLAUSE, 0, NULL, NULL);
}

/* Enqueue the summaries of an int8 array (SPI connected). */
uint64
outbox_enqueue_array(Datum ids)
{
	Oid			argtype = INT8ARRAYOID;

	return outbox_enqueue("INSERT INTO osv.vector_outbox AS o (summary_id)"
						  " SELECT DISTINCT u.id FROM pg_catalog.unnest($1) AS u(id)"
						  OUTBOX_SET_CLAUSE, 1, &argtype, &ids);
}

/*
 * osv.vector_enqueue(): AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW and
 * AFTER TRUNCATE FOR EACH STATEMENT trigger of osv.summaries.
 *
 * A row change enqueues the summary when the point's desired state
 * changes: it appears or disappears (trash, restore, embedding set or
 * cleared, insert, delete) or, while it stays, its embedding, user_id,
 * topic or created_at change.  A TRUNCATE replaces the whole outbox with
 * the marker 0, but for the entries in flight or in doubt.  In the
 * embedded mode (osv.qdrant_url empty) nothing is enqueued.
 */
PG_FUNCTION_INFO_V1(osv_vector_enqueue);
Datum
osv_vector_enqueue(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TriggerEvent event;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	bool		enqueue = false;
	int64		summary_id = 0;

	trigdata = trigger_check(fcinfo, "osv.vector_enqueue", false,
							 TRIGGER_CHECK_INSERT | TRIGGER_CHECK_UPDATE | TRIGGER_CHECK_DELETE,
							 TRIGGER_CHECK_TRUNCATE,
							 "AFTER INSERT or UPDATE or DELETE FOR EACH ROW, or AFTER TRUNCATE");
	event = trigdata->tg_event;

	/*
	 * In the embedded mode nothing is queued; whatever Qdrant comes next
	 * (or comes back) misses this change, so the target must be reconciled
	 * then: forget which one was synced (once per transaction; a write only
	 * while it is set).
	 */
	if (!qdrant_configured())
	{
		if (unsynced_lxid != MyProc->lxid)
		{
			spi_connect();
			spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET synced_url = NULL"
						" WHERE target OPERATOR(pg_catalog.=) 'qdrant' AND synced_url IS NOT NULL",
						0, NULL, NULL, false, 0);
			SPI_finish();
			unsynced_lxid = MyProc->lxid;
		}
		return PointerGetDatum(NULL);
	}

	if (TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		/*
		 * An entry claimed by a sync in another process (a worker of the
		 * pool, or a session's osv.vector_sync() beside the worker) may be
		 * in flight: its upsert can reach Qdrant after the marker's drop
		 * and the new collection's creation.  So it stays, as a change
		 * (version + 1): its record does not complete it, and it is sent
		 * again after the marker, as the delete of a summary that is gone.
		 * (No claim commits meanwhile: a claim reads osv.summaries, on
		 * which TRUNCATE holds its lock.)  So does an entry whose last
		 * write is in doubt (in_doubt_until to come: Qdrant may still
		 * apply it, after the marker too), with its fence and user: it is
		 * sent again as a delete, which completes it only once the fence
		 * has passed, and an erasure sweep of its user waits for it.
		 */
		spi_connect();
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o SET version = o.version OPERATOR(pg_catalog.+) 1,"
					" state = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), last_error = NULL"
					" WHERE o.summary_id OPERATOR(pg_catalog.<>) 0"
					"   AND ((o.claim_id IS NOT NULL AND o.lease_until OPERATOR(pg_catalog.>=) pg_catalog.now())"
					"        OR o.in_doubt_until OPERATOR(pg_catalog.>) pg_catalog.now())",
					0, NULL, NULL, false, 0);
		spi_execute(SPI_OK_DELETE, "DELETE FROM osv.vector_outbox o WHERE o.summary_id OPERATOR(pg_catalog.<>) 0"
					" AND (o.claim_id IS NULL OR o.lease_until OPERATOR(pg_catalog.<) pg_catalog.now())"
					" AND (o.in_doubt_until IS NULL OR o.in_doubt_until OPERATOR(pg_catalog.<=) pg_catalog.now())",
					0, NULL, NULL, false, 0);
		enqueue_summary(0);
		SPI_finish();
		outbox_wake_worker_at_commit();
		return PointerGetDatum(NULL);
	}

	desc = trigdata->tg_relation->rd_att;
	{
		int			id_attno = attno_of(desc, "id");
		int			deleted_attno = attno_of(desc, "deleted_at");
		int			embedding_attno = attno_of(desc, "embedding");
		bool		isnull;
		HeapTuple	idtup;

		if (TRIGGER_FIRED_BY_INSERT(event))
		{
			newtup = trigdata->tg_trigtuple;
			enqueue = row_is_point(newtup, desc, deleted_attno, embedding_attno);
		}
		else if (TRIGGER_FIRED_BY_DELETE(event))
		{
			oldtup = trigdata->tg_trigtuple;
			enqueue = row_is_point(oldtup, desc, deleted_attno, embedding_attno);
		}
		else
		{
			bool		was;
			bool		is;

			oldtup = trigdata->tg_trigtuple;
			newtup = trigdata->tg_newtuple;
			was = row_is_point(oldtup, desc, deleted_attno, embedding_attno);
			is = row_is_point(newtup, desc, deleted_attno, embedding_attno);
			if (was != is)
				enqueue = true;
			else if (is)
				enqueue = attr_changed(oldtup, newtup, desc, id_attno) ||
					attr_changed(oldtup, newtup, desc, embedding_attno) ||
					(SPI_fnumber(desc, "embedding_next") > 0 &&
					 attr_changed(oldtup, newtup, desc, SPI_fnumber(desc, "embedding_next"))) ||
					attr_changed(oldtup, newtup, desc, attno_of(desc, "user_id")) ||
					attr_changed(oldtup, newtup, desc, attno_of(desc, "topic")) ||
					attr_changed(oldtup, newtup, desc, attno_of(desc, "created_at"));
		}
		if (!enqueue)
			return PointerGetDatum(NULL);

		idtup = newtup ? newtup : oldtup;
		summary_id = DatumGetInt64(heap_getattr(idtup, id_attno, desc, &isnull));
		spi_connect();
		enqueue_summary(summary_id);
		/* An id change (never done by osv) leaves the old point behind. */
		if (oldtup != NULL && newtup != NULL)
		{
			int64		old_id = DatumGetInt64(heap_getattr(oldtup, id_attno, desc, &isnull));

			if (old_id != summary_id)
				enqueue_summary(old_id);
		}
		SPI_finish();
	}
	outbox_wake_worker_at_commit();
	return PointerGetDatum(NULL);
}
