/*-------------------------------------------------------------------------
 *
 * vector_sync.c
 *		Outbox of summary changes and its sync to Qdrant.
 *
 * The enqueue trigger osv.vector_enqueue() runs in the writing backend, in
 * the writing transaction: it upserts a row of osv.vector_outbox (one row
 * per summary, coalesced by ON CONFLICT) and asks for the sync worker to be
 * woken at commit (an XactCallback sets the worker's latch, which lives in
 * shared memory; never before commit, or the worker would not see the row).
 *
 * A batch is synced in three steps, shared by the worker and by the
 * SQL-callable osv.vector_sync():
 *	 claim:  UPDATE ... FOR UPDATE SKIP LOCKED sets claim_id, claimed_version,
 *			 a lease and attempts + 1; a second statement (a fresh snapshot,
 *			 so it sees every change committed before the claim) reads the
 *			 summaries and derives each point's desired state;
 *	 send:	 HTTP to Qdrant with no SPI use (qdrant.c);
 *	 record: delete the rows whose version is still the claimed one, back
 *			 off or park failures, release the rest.
 * The worker commits after the claim and runs the record in a new
 * transaction, so no transaction is open during HTTP; osv.vector_sync()
 * runs all three in the caller's transaction (a function cannot commit),
 * holding the claimed rows' locks during the call.
 *
 * Failures of the whole target (no connection, 401/403, 404 collection,
 * 408/429/5xx, an unreadable answer) hold every entry back until
 * osv.vector_sync_targets.retry_at and do not count as attempts of the
 * entries: an outage never parks the queue.  Failures of content (400,
 * 422, an embedding that cannot be sent) are per entry: a failing batch is
 * split into single points, so one poison entry is retried with backoff
 * and parked after osv.vector_sync_max_attempts, never blocking others.
 * Attempts are counted at claim time, so a batch that crashes the worker
 * is parked too.
 *
 * The worker (osv_vector_sync_main) is a static background worker of the
 * database osv.database; it idles where the extension is absent and where
 * osv.qdrant_url is empty.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_sync.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "osv.h"
#include "qdrant.h"
#include "roles.h"
#include "vector_sync.h"

/* Largest k of osv.qdrant_search(). */
#define OSV_MAX_K 10000

/* Points per page of osv.vector_reconcile()'s scroll. */
#define RECONCILE_PAGE 1000

/* Upper bound of an upsert body (Qdrant refuses bodies over 32 MB). */
#define MAX_UPSERT_BYTES (16 * 1024 * 1024)

/* Shared state: where to find the worker's latch. */
typedef struct OsvVectorSyncShared
{
	int			worker_pgprocno;	/* -1 when no worker runs */
	pid_t		worker_pid;
} OsvVectorSyncShared;

static OsvVectorSyncShared *vs_shared = NULL;

/* What became of one entry of a batch. */
typedef enum VsOutcome
{
	VS_UNSENT = 0,				/* not sent (target failure): release as is */
	VS_DONE,					/* Qdrant holds the desired state */
	VS_FAILED,					/* rejected: back off, park after max attempts */
	VS_PARKED					/* cannot ever be sent as it is: park now */
} VsOutcome;

typedef struct VsEntry
{
	int64		summary_id;		/* 0: TRUNCATE marker */
	int64		version;		/* claimed version */
	bool		upsert;			/* desired state: point present */
	QdrantPoint point;			/* when upsert */
	VsOutcome	outcome;
	char	   *error;
} VsEntry;

typedef struct VsBatch
{
	int64		claim_id;
	int			n;
	VsEntry    *entries;
	bool		target_failed;
	QdrantError target_error;
	bool		resync;			/* enqueue every live summary when recording */
	bool		any_sent;
} VsBatch;

/*
 * Where a claim's scan of the due entries starts: after this key of
 * vector_outbox_next_attempt_at_idx.  The entries a sync deleted stay in
 * the index until they can be killed (osv.vector_sync(), which claims
 * every batch in the caller's transaction: not before it commits; the
 * worker: not while an older snapshot exists anywhere), so a claim that
 * started from the beginning each time would walk them all again at every
 * batch, which made a backfill quadratic.  So a drain resumes after its
 * last claimed key; the worker goes back to the beginning whenever a claim
 * comes back short of a full batch (the end of what is due), and after
 * VS_CLAIMS_PER_PASS claims.
 */
typedef struct VsClaimCursor
{
	TimestampTz next_attempt_at;
	int64		summary_id;
	int			claims;			/* claims made since the start */
} VsClaimCursor;

#define VS_CLAIM_CURSOR_START {DT_NOBEGIN, -1, 0}

/*
 * The worker starts over after this many full claims in a row, so that an
 * entry it went by (locked by a writer at the time) waits at most that
 * many batches even while the queue never runs short.
 */
#define VS_CLAIMS_PER_PASS 64

/* Per-backend enqueue state. */
static SPIPlanPtr enqueue_plan = NULL;
static bool wake_callback_registered = false;
static bool wake_at_commit = false;

static const char enqueue_set_clause[] =
"ON CONFLICT (summary_id) DO UPDATE SET "
"version = o.version OPERATOR(pg_catalog.+) 1, state = 'pending', attempts = 0, "
"next_attempt_at = pg_catalog.now(), last_error = NULL, "
"enqueued_at = CASE WHEN o.state OPERATOR(pg_catalog.=) 'failed' THEN pg_catalog.now() ELSE o.enqueued_at END";

/*
 * Plans of the statements the sync runs for every batch, prepared once
 * per process and kept (the plan cache replans them after DDL, such as a
 * DROP and CREATE EXTENSION).  Keyed by the address of the SQL literal.
 */
typedef struct CachedStatement
{
	const char *sql;
	SPIPlanPtr	plan;
} CachedStatement;

static CachedStatement cached_statements[32];
static int	n_cached_statements = 0;

/*
 * SPI_execute_with_args() with a kept plan; "sql" must be a string
 * literal.  Raises an ERROR unless SPI answers "expected" (such as
 * SPI_OK_UPDATE).  SPI connected.
 */
static void
exec_cached(int expected, const char *sql, int nargs, Oid *argtypes, Datum *values,
			bool read_only, long tcount)
{
	SPIPlanPtr	plan = NULL;
	int			rc;

	for (int i = 0; i < n_cached_statements; i++)
	{
		if (cached_statements[i].sql == sql)
		{
			plan = cached_statements[i].plan;
			break;
		}
	}
	if (plan == NULL)
	{
		plan = SPI_prepare(sql, nargs, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (n_cached_statements < lengthof(cached_statements))
		{
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_keepplan failed");
			cached_statements[n_cached_statements].sql = sql;
			cached_statements[n_cached_statements].plan = plan;
			n_cached_statements++;
		}
	}
	rc = SPI_execute_plan(plan, values, NULL, read_only, tcount);
	if (rc != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* ------------------------------------------------------------------------
 * Shared memory and wake-ups
 * ------------------------------------------------------------------------
 */
Size
vector_sync_shmem_size(void)
{
	return MAXALIGN(sizeof(OsvVectorSyncShared));
}

/* Called from osv's shmem_startup_hook, with AddinShmemInitLock held. */
void
vector_sync_shmem_init(void)
{
	bool		found;

	vs_shared = ShmemInitStruct("osv vector sync", sizeof(OsvVectorSyncShared), &found);
	if (!found)
	{
		vs_shared->worker_pgprocno = -1;
		vs_shared->worker_pid = 0;
	}
}

static void
wake_worker(void)
{
	int			procno;

	if (vs_shared == NULL)
		return;
	procno = vs_shared->worker_pgprocno;
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

static void
vs_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				wake_worker();
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

/* Ask for the worker to be woken when the current transaction commits. */
static void
wake_worker_at_commit(void)
{
	if (vs_shared == NULL)
		return;
	if (!wake_callback_registered)
	{
		RegisterXactCallback(vs_xact_callback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/* ------------------------------------------------------------------------
 * Enqueue
 * ------------------------------------------------------------------------
 */

/* Whether a summary row is a point in Qdrant: live with an embedding. */
static bool
row_is_point(HeapTuple tuple, TupleDesc desc, int deleted_attno, int embedding_attno)
{
	bool		isnull;

	(void) heap_getattr(tuple, deleted_attno, desc, &isnull);
	if (!isnull)
		return false;
	(void) heap_getattr(tuple, embedding_attno, desc, &isnull);
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
	Datum		arg = Int64GetDatum(summary_id);
	int			rc;

	if (enqueue_plan == NULL)
	{
		char	   *sql = psprintf("INSERT INTO osv.vector_outbox AS o (summary_id) VALUES ($1) %s",
								   enqueue_set_clause);
		Oid			argtype = INT8OID;
		SPIPlanPtr	plan = SPI_prepare(sql, 1, &argtype);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		enqueue_plan = plan;
	}
	rc = SPI_execute_plan(enqueue_plan, &arg, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * Run a statement that enqueues rows (SPI connected); returns how many.
 */
static uint64
run_enqueue_sql(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);

	if (rc != SPI_OK_INSERT && rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/* Enqueue every live summary with an embedding (SPI connected). */
static uint64
enqueue_all_live(void)
{
	char	   *sql = psprintf("INSERT INTO osv.vector_outbox AS o (summary_id) "
							   "SELECT s.id FROM osv.summaries s "
							   "WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL %s",
							   enqueue_set_clause);

	return run_enqueue_sql(sql, 0, NULL, NULL);
}

/* Enqueue the summaries of an int8 array (SPI connected). */
static uint64
enqueue_array(Datum ids)
{
	char	   *sql = psprintf("INSERT INTO osv.vector_outbox AS o (summary_id) "
							   "SELECT DISTINCT u.id FROM pg_catalog.unnest($1) AS u(id) %s",
							   enqueue_set_clause);
	Oid			argtype = INT8ARRAYOID;

	return run_enqueue_sql(sql, 1, &argtype, &ids);
}

/* Name of the target's synced URL (base URL and collection). */
static char *
target_url(void)
{
	return psprintf("%s|%s", osv_qdrant_url, osv_qdrant_collection);
}

static void
set_synced_url(void)
{
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(target_url());

	exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET synced_url = $1 WHERE target = 'qdrant'",
					 1, &argtype, &arg, false, 0);
}

/*
 * osv.vector_enqueue(): AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW and
 * AFTER TRUNCATE FOR EACH STATEMENT trigger of osv.summaries.
 *
 * A row change enqueues the summary when the point's desired state
 * changes: it appears or disappears (trash, restore, embedding set or
 * cleared, insert, delete) or, while it stays, its embedding, user_id,
 * topic or created_at change.  A TRUNCATE replaces the whole outbox with
 * the marker 0.  In the embedded mode (osv.qdrant_url empty) nothing is
 * enqueued.
 */
PG_FUNCTION_INFO_V1(osv_vector_enqueue);
Datum
osv_vector_enqueue(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	TupleDesc	desc;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	bool		enqueue = false;
	int64		summary_id = 0;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("osv.vector_enqueue() must be called as a trigger")));
	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("osv.vector_enqueue() must be fired AFTER")));

	if (!qdrant_configured())
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		SPI_connect();
		exec_cached(SPI_OK_DELETE, "DELETE FROM osv.vector_outbox WHERE summary_id OPERATOR(pg_catalog.<>) 0", 0, NULL, NULL, false, 0);
		enqueue_summary(0);
		SPI_finish();
		wake_worker_at_commit();
		return PointerGetDatum(NULL);
	}
	if (!TRIGGER_FIRED_FOR_ROW(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("osv.vector_enqueue() must be fired FOR EACH ROW or on TRUNCATE")));

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
					attr_changed(oldtup, newtup, desc, attno_of(desc, "user_id")) ||
					attr_changed(oldtup, newtup, desc, attno_of(desc, "topic")) ||
					attr_changed(oldtup, newtup, desc, attno_of(desc, "created_at"));
		}
		if (!enqueue)
			return PointerGetDatum(NULL);

		idtup = newtup ? newtup : oldtup;
		summary_id = DatumGetInt64(heap_getattr(idtup, id_attno, desc, &isnull));
		SPI_connect();
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
	wake_worker_at_commit();
	return PointerGetDatum(NULL);
}

/* A bigint[] of n elements (Int64GetDatum), as a Datum for SPI. */
static Datum
int8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ------------------------------------------------------------------------
 * Embeddings and fingerprints
 * ------------------------------------------------------------------------
 */

/*
 * Check an embedding for sending; returns NULL when it is fine, else why
 * not (palloc'd).
 */
static char *
embedding_problem(ArrayType *arr)
{
	int			n;
	float4	   *v;

	if (ARR_ELEMTYPE(arr) != FLOAT4OID)
		return pstrdup("the embedding is not an array of real");
	if (ARR_NDIM(arr) != 1)
		return psprintf("the embedding has %d dimensions as an array; it must be one-dimensional",
						ARR_NDIM(arr));
	if (ARR_HASNULL(arr) && array_contains_nulls(arr))
		return pstrdup("the embedding contains NULL elements");
	n = ARR_DIMS(arr)[0];
	if (n != osv_vector_dimensions)
		return psprintf("the embedding has %d elements, but osv.vector_dimensions is %d",
						n, osv_vector_dimensions);
	v = (float4 *) ARR_DATA_PTR(arr);
	for (int i = 0; i < n; i++)
		if (isnan(v[i]) || isinf(v[i]))
			return psprintf("element %d of the embedding is not a finite number", i + 1);
	return NULL;
}

/*
 * Fingerprint of a point's content, sent as payload "version": equal
 * fingerprints mean an equal vector and payload, which is what
 * osv.vector_reconcile() compares.
 */
static int64
point_fingerprint(const QdrantPoint *p)
{
	StringInfoData buf;
	uint64		h;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &p->user_id, sizeof(int64));
	if (p->topic != NULL)
	{
		appendStringInfoChar(&buf, 't');
		appendBinaryStringInfo(&buf, p->topic, strlen(p->topic) + 1);
	}
	else
		appendStringInfoChar(&buf, 'n');
	appendBinaryStringInfo(&buf, p->created_at, strlen(p->created_at) + 1);
	appendBinaryStringInfo(&buf, (const char *) p->vector, sizeof(float4) * p->dimensions);
	h = hash_bytes_extended((const unsigned char *) buf.data, buf.len, UINT64CONST(0x6f7376));
	pfree(buf.data);
	return (int64) (h & PG_INT64_MAX);
}

/* Columns read for a point, after the key columns of a query. */
#define POINT_COLUMNS \
	"s.deleted_at IS NULL AND s.embedding IS NOT NULL, s.embedding, s.user_id, s.topic, " \
	"pg_catalog.to_char(pg_catalog.timezone('UTC', s.created_at), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/*
 * Fill a point from SPI result row "row", whose point columns start at
 * column "first" (POINT_COLUMNS).  Returns false when the row is not a
 * point (no live summary with an embedding); sets *problem when it is one
 * that cannot be sent.  Memory of the current context.
 */
static bool
read_point(int64 id, uint64 row, int first, QdrantPoint *p, char **problem)
{
	HeapTuple	tup = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;
	ArrayType  *arr;

	*problem = NULL;
	d = SPI_getbinval(tup, desc, first, &isnull);
	if (isnull || !DatumGetBool(d))
		return false;
	arr = DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, first + 1, &isnull));
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->user_id = DatumGetInt64(SPI_getbinval(tup, desc, first + 2, &isnull));
	d = SPI_getbinval(tup, desc, first + 3, &isnull);
	p->topic = isnull ? NULL : TextDatumGetCString(d);
	p->created_at = SPI_getvalue(tup, desc, first + 4);
	*problem = embedding_problem(arr);
	if (*problem != NULL)
		return true;
	p->vector = (float4 *) ARR_DATA_PTR(arr);
	p->dimensions = ARR_DIMS(arr)[0];
	p->version = point_fingerprint(p);
	return true;
}

/* ------------------------------------------------------------------------
 * Claim, send, record
 * ------------------------------------------------------------------------
 */

/*
 * Whether the target is backing off; *wait_ms gets the time left.  SPI
 * connected.
 */
static bool
target_backing_off(long *wait_ms)
{
	bool		isnull;
	Datum		d;

	*wait_ms = 0;
	exec_cached(SPI_OK_SELECT, "SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', t.retry_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)::bigint "
					 "FROM osv.vector_sync_targets t WHERE t.target = 'qdrant' AND t.retry_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()", 0, NULL, NULL, true, 1);
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*wait_ms = isnull ? 1 : Max(DatumGetInt64(d), 1);
	return true;
}

/*
 * Claim up to "limit" due entries and read their desired state into
 * *batch, allocated in mcxt (which must outlive SPI).  SPI
 * connected, inside a transaction.  Returns the number claimed.
 */
static int
vs_claim(int limit, VsClaimCursor *cursor, VsBatch *batch, MemoryContext mcxt)
{
	Oid			claim_types[5] = {INT4OID, INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID};
	Datum		claim_values[5];
	Oid			read_types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	Datum		read_values[2];
	Datum	   *ids;
	Datum	   *versions;
	int			n;
	int64		lease_ms;
	int			save_nestlevel;
	MemoryContext old;

	memset(batch, 0, sizeof(*batch));

	exec_cached(SPI_OK_SELECT, "SELECT pg_catalog.nextval('osv.vector_outbox_claim_seq')", 0, NULL, NULL, false, 1);
	{
		bool		isnull;

		batch->claim_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* Long enough for every request the batch can need to time out. */
	lease_ms = ((int64) limit + 4) * (osv_qdrant_timeout + osv_qdrant_connect_timeout) + 60000;
	claim_values[0] = Int32GetDatum(limit);
	claim_values[1] = Int64GetDatum(batch->claim_id);
	claim_values[2] = Int64GetDatum(lease_ms);
	claim_values[3] = TimestampTzGetDatum(cursor->next_attempt_at);
	claim_values[4] = Int64GetDatum(cursor->summary_id);
	/*
	 * The outbox swings from empty to a backfill of every summary faster
	 * than autovacuum analyzes it, so its statistics are mostly stale.  With
	 * a stale estimate of a few rows the planner reads every pending row in
	 * a bitmap scan and sorts them all on each claim (measured: 60 ms a
	 * claim at 100,000 pending rows, so a backfill costs O(n^2)), while
	 * walking the partial index in order and stopping after "limit" rows is
	 * right at any size.  So the claim is planned with bitmap scans and
	 * sorts off, at a GUC nest level of its own, as a function's SET clause
	 * would do it (an error unwinds it with the transaction).
	 */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* The ids go through an array, so that the update probes the primary key. */
	exec_cached(SPI_OK_UPDATE_RETURNING,
					 " UPDATE osv.vector_outbox o"
					 " SET claim_id = $2, claimed_version = o.version,"
					 "     lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $3 OPERATOR(pg_catalog./) 1000.0),"
					 "     attempts = o.attempts OPERATOR(pg_catalog.+) 1, last_attempt_at = pg_catalog.now()"
					 " WHERE o.summary_id OPERATOR(pg_catalog.=) ANY (ARRAY("
					 "   SELECT d.summary_id FROM osv.vector_outbox d"
					 "   WHERE d.state OPERATOR(pg_catalog.=) 'pending'"
					 "     AND d.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
					 "     AND (d.claim_id IS NULL OR d.lease_until OPERATOR(pg_catalog.<) pg_catalog.now())"
					 "     AND (d.next_attempt_at, d.summary_id) OPERATOR(pg_catalog.>) ($4, $5)"
					 "   ORDER BY d.next_attempt_at, d.summary_id LIMIT $1"
					 "   FOR UPDATE SKIP LOCKED))"
					 " RETURNING o.summary_id, o.version, o.next_attempt_at",
					 5, claim_types, claim_values, false, 0);
	AtEOXact_GUC(true, save_nestlevel);
	n = (int) SPI_processed;
	if (n == 0)
		return 0;

	ids = palloc(sizeof(Datum) * n);
	versions = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		TimestampTz due;

		ids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		versions[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		/* The largest key claimed: the next claim of this call starts after it. */
		if (due > cursor->next_attempt_at ||
			(due == cursor->next_attempt_at && DatumGetInt64(ids[i]) > cursor->summary_id))
		{
			cursor->next_attempt_at = due;
			cursor->summary_id = DatumGetInt64(ids[i]);
		}
	}
	read_values[0] = int8_array(ids, n);
	read_values[1] = int8_array(versions, n);

	/* A new statement, so a new snapshot: it sees what the claim waited for. */
	/* LATERAL: one primary key probe per entry, never a scan of all rows. */
	exec_cached(SPI_OK_SELECT, "SELECT c.summary_id, c.version, " POINT_COLUMNS
					 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS c(summary_id, version)"
					 " LEFT JOIN LATERAL (SELECT * FROM osv.summaries s1"
					 "   WHERE s1.id OPERATOR(pg_catalog.=) c.summary_id) s ON true"
					 " ORDER BY c.summary_id",
					 2, read_types, read_values, false, 0);

	old = MemoryContextSwitchTo(mcxt);
	batch->n = (int) SPI_processed;
	batch->entries = palloc0(sizeof(VsEntry) * Max(batch->n, 1));
	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];
		bool		isnull;
		char	   *problem;

		e->summary_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		e->version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		if (e->summary_id == 0)
			continue;
		e->upsert = read_point(e->summary_id, i, 3, &e->point, &problem);
		if (problem != NULL)
		{
			e->outcome = VS_PARKED;
			e->error = psprintf("summary %lld cannot be sent to Qdrant: %s",
								(long long) e->summary_id, problem);
		}
	}
	MemoryContextSwitchTo(old);
	return batch->n;
}

/*
 * Record a failure of the whole target.  A 404 from a points call means the
 * collection vanished after it was checked: forget the check, so the next
 * attempt creates it again (and then sends every live summary again).
 */
static void
target_failure(VsBatch *batch, const QdrantError *err)
{
	batch->target_failed = true;
	batch->target_error = *err;
	if (err->kind == QDRANT_GONE)
		qdrant_forget_collection();
}

/* Send upserts of entries [from, to) of "list"; splits on rejection. */
static void
send_upserts(VsBatch *batch, VsEntry **list, int count)
{
	int			start = 0;

	while (start < count && !batch->target_failed)
	{
		QdrantPoint *points;
		int			n = 0;
		size_t		bytes = 0;
		QdrantError err;

		points = palloc(sizeof(QdrantPoint) * (count - start));
		while (start + n < count &&
			   (n == 0 || bytes + list[start + n]->point.dimensions * 16 + 256 < MAX_UPSERT_BYTES))
		{
			points[n] = list[start + n]->point;
			bytes += points[n].dimensions * 16 + 256;
			n++;
		}
		CHECK_FOR_INTERRUPTS();
		if (qdrant_upsert(points, n, &err))
		{
			batch->any_sent = true;
			for (int i = 0; i < n; i++)
				list[start + i]->outcome = VS_DONE;
		}
		else if (err.kind != QDRANT_REJECTED)
			target_failure(batch, &err);
		else if (n > 1)
		{
			/* Find the poison: send each point on its own. */
			for (int i = 0; i < n && !batch->target_failed; i++)
				send_upserts(batch, &list[start + i], 1);
		}
		else
		{
			list[start]->outcome = VS_FAILED;
			list[start]->error = err.message;
		}
		pfree(points);
		start += n;
	}
}

/*
 * Bring Qdrant to the desired state of every entry of the batch.  No SPI,
 * no transaction needed.  Fills the outcome of each entry and, for a
 * failure of the target, batch->target_error.
 */
static void
vs_send(VsBatch *batch)
{
	VsEntry   **upserts = palloc(sizeof(VsEntry *) * Max(batch->n, 1));
	int64	   *deletes = palloc(sizeof(int64) * Max(batch->n, 1));
	VsEntry   **delete_entries = palloc(sizeof(VsEntry *) * Max(batch->n, 1));
	int			nupserts = 0;
	int			ndeletes = 0;
	QdrantError err;

	/* The TRUNCATE marker comes first: drop everything, resend the rest. */
	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (e->summary_id != 0)
			continue;
		if (!qdrant_drop_collection(&err) && err.kind != QDRANT_GONE)
		{
			target_failure(batch, &err);
			return;
		}
		/* The ensure below creates it again, which resends every summary. */
		e->outcome = VS_DONE;
		batch->any_sent = true;
	}

	{
		bool		created;

		if (!qdrant_ensure_collection(&created, &err))
		{
			target_failure(batch, &err);
			return;
		}

		/*
		 * A collection osv had to create holds none of the points sent
		 * before (a first sync, a TRUNCATE, or a collection lost while the
		 * process did not look): send every live summary again.
		 */
		if (created)
			batch->resync = true;
	}

	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (e->summary_id == 0 || e->outcome == VS_PARKED)
			continue;
		if (e->upsert)
			upserts[nupserts++] = e;
		else
		{
			delete_entries[ndeletes] = e;
			deletes[ndeletes++] = e->summary_id;
		}
	}

	if (ndeletes > 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (qdrant_delete_ids(deletes, ndeletes, &err))
		{
			batch->any_sent = true;
			for (int i = 0; i < ndeletes; i++)
				delete_entries[i]->outcome = VS_DONE;
		}
		else if (err.kind == QDRANT_REJECTED)
		{
			for (int i = 0; i < ndeletes; i++)
			{
				delete_entries[i]->outcome = VS_FAILED;
				delete_entries[i]->error = err.message;
			}
		}
		else
		{
			target_failure(batch, &err);
			return;
		}
	}
	send_upserts(batch, upserts, nupserts);
}

/* qsort / bsearch comparator of int64 */
static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Record the outcome of a batch (SPI connected, in a transaction).
 * Returns the number of entries completed.
 */
static uint64
vs_record(VsBatch *batch)
{
	Datum	   *done = palloc(sizeof(Datum) * Max(batch->n, 1));
	Datum	   *unsent = palloc(sizeof(Datum) * Max(batch->n, 1));
	int64	   *deleted = palloc(sizeof(int64) * Max(batch->n, 1));
	int			ndone = 0;
	int			nunsent = 0;
	uint64		completed = 0;
	Datum		claim = Int64GetDatum(batch->claim_id);

	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (e->outcome == VS_DONE)
			done[ndone++] = Int64GetDatum(e->summary_id);
		else if (e->outcome == VS_UNSENT)
			unsent[nunsent++] = Int64GetDatum(e->summary_id);
	}

	/* The target. */
	if (batch->target_failed)
	{
		Oid			types[4] = {TEXTOID, INT4OID, INT4OID, INT8OID};
		Datum		values[4];

		values[0] = CStringGetTextDatum(batch->target_error.message);
		values[1] = Int32GetDatum(osv_vector_sync_backoff);
		values[2] = Int32GetDatum(osv_vector_sync_backoff_max);
		values[3] = Int64GetDatum(batch->target_error.retry_after_ms);
		exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets t SET"
						 " consecutive_failures = t.consecutive_failures OPERATOR(pg_catalog.+) 1,"
						 " last_error = $1, last_error_at = pg_catalog.clock_timestamp(),"
						 " retry_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>"
						 "   GREATEST(LEAST($3::float8, $2 OPERATOR(pg_catalog.*) pg_catalog.power(2, LEAST(t.consecutive_failures, 30)))"
						 "            OPERATOR(pg_catalog.*) (0.5 OPERATOR(pg_catalog.+) 0.5 OPERATOR(pg_catalog.*) pg_catalog.random()),"
						 "            $4::float8) OPERATOR(pg_catalog./) 1000.0)"
						 " WHERE t.target = 'qdrant'",
						 4, types, values, false, 0);
	}
	else if (batch->any_sent)
	{
		exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET consecutive_failures = 0,"
						 " last_error = NULL, retry_at = NULL, last_success_at = pg_catalog.clock_timestamp()"
						 " WHERE target = 'qdrant'", 0, NULL, NULL, false, 0);
	}

	/* Completed entries: gone unless changed meanwhile. */
	if (ndone > 0)
	{
		Oid			types[2] = {INT8OID, INT8ARRAYOID};
		Datum		values[2];

		values[0] = claim;
		values[1] = int8_array(done, ndone);
		exec_cached(SPI_OK_DELETE_RETURNING, "DELETE FROM osv.vector_outbox o"
						 " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
						 "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)"
						 "   AND o.version OPERATOR(pg_catalog.=) o.claimed_version"
						 " RETURNING o.summary_id",
						 2, types, values, false, 0);
		completed = SPI_processed;
		for (uint64 i = 0; i < completed; i++)
		{
			bool		isnull;

			deleted[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		qsort(deleted, completed, sizeof(int64), compare_int64);
	}

	/* Unsent entries (target failure): this was not an attempt of theirs. */
	if (nunsent > 0)
	{
		Oid			types[2] = {INT8OID, INT8ARRAYOID};
		Datum		values[2];

		values[0] = claim;
		values[1] = int8_array(unsent, nunsent);
		exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
						 " SET attempts = GREATEST(o.attempts OPERATOR(pg_catalog.-) 1, 0)"
						 " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
						 "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)"
						 "   AND o.version OPERATOR(pg_catalog.=) o.claimed_version",
						 2, types, values, false, 0);
	}

	/* Failed and parked entries, one by one (rare). */
	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];
		Oid			types[7] = {INT8OID, INT8OID, TEXTOID, BOOLOID, INT4OID, INT4OID, INT4OID};
		Datum		values[7];

		if (e->outcome != VS_FAILED && e->outcome != VS_PARKED)
			continue;
		values[0] = claim;
		values[1] = Int64GetDatum(e->summary_id);
		values[2] = CStringGetTextDatum(e->error);
		values[3] = BoolGetDatum(e->outcome == VS_PARKED);
		values[4] = Int32GetDatum(osv_vector_sync_max_attempts);
		values[5] = Int32GetDatum(osv_vector_sync_backoff);
		values[6] = Int32GetDatum(osv_vector_sync_backoff_max);
		exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o SET last_error = $3,"
						 " state = CASE WHEN $4 OR o.attempts OPERATOR(pg_catalog.>=) $5 THEN 'failed' ELSE 'pending' END,"
						 " next_attempt_at = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>"
						 "   LEAST($7::float8, $6 OPERATOR(pg_catalog.*) pg_catalog.power(2, LEAST(o.attempts OPERATOR(pg_catalog.-) 1, 30)))"
						 "   OPERATOR(pg_catalog.*) (0.5 OPERATOR(pg_catalog.+) 0.5 OPERATOR(pg_catalog.*) pg_catalog.random()) OPERATOR(pg_catalog./) 1000.0)"
						 " WHERE o.claim_id OPERATOR(pg_catalog.=) $1 AND o.summary_id OPERATOR(pg_catalog.=) $2"
						 "   AND o.version OPERATOR(pg_catalog.=) o.claimed_version",
						 7, types, values, false, 0);
		if (SPI_processed > 0)
			ereport(e->outcome == VS_PARKED ? WARNING : DEBUG1,
					(errmsg_internal("%s", e->error)));
	}

	/*
	 * Release whatever is left of the claim (changed while in flight too):
	 * every entry but those just deleted, found through the primary key.
	 */
	{
		Oid			types[2] = {INT8OID, INT8ARRAYOID};
		Datum		values[2];
		Datum	   *left = palloc(sizeof(Datum) * Max(batch->n, 1));
		int			nleft = 0;

		for (int i = 0; i < batch->n; i++)
		{
			int64		id = batch->entries[i].summary_id;

			if (completed == 0 ||
				bsearch(&id, deleted, completed, sizeof(int64), compare_int64) == NULL)
				left[nleft++] = Int64GetDatum(id);
		}
		if (nleft > 0)
		{
			values[0] = claim;
			values[1] = int8_array(left, nleft);
			exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
							 " SET claim_id = NULL, claimed_version = NULL, lease_until = NULL"
							 " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
							 "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)",
							 2, types, values, false, 0);
		}
	}

	/*
	 * The collection this batch created holds only what the batch
	 * completed; every other live summary goes again.  A summary whose
	 * entry is pending and unclaimed needs nothing: it is sent after the
	 * creation anyway, so it is skipped (a first sync of a backfill would
	 * otherwise rewrite the whole outbox once more: 1.9 s of the worker's
	 * 10 s for 100,000 summaries).  Enqueued are the summaries with no
	 * entry (completed before, not by this batch), parked ones, and those
	 * claimed by another batch, which may have gone to the old collection
	 * (the version bump keeps them pending when that batch completes); not
	 * the entries this batch completed (deleted above).
	 */
	if (batch->resync)
	{
		Oid			argtype = INT8ARRAYOID;
		Datum	   *ids = palloc(sizeof(Datum) * Max(completed, 1));
		Datum		arg;
		char	   *sql;

		for (uint64 i = 0; i < completed; i++)
			ids[i] = Int64GetDatum(deleted[i]);
		arg = int8_array(ids, (int) completed);
		/* Two plain anti-joins, so that both can be hash joins. */
		sql = psprintf("INSERT INTO osv.vector_outbox AS o (summary_id) "
					   "SELECT s.id FROM osv.summaries s "
					   "WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL "
					   "AND NOT EXISTS (SELECT FROM osv.vector_outbox q WHERE q.summary_id OPERATOR(pg_catalog.=) s.id "
					   "  AND q.state OPERATOR(pg_catalog.=) 'pending' AND q.claim_id IS NULL) "
					   "AND NOT EXISTS (SELECT FROM pg_catalog.unnest($1) AS u(id) WHERE u.id OPERATOR(pg_catalog.=) s.id) %s",
					   enqueue_set_clause);

		(void) run_enqueue_sql(sql, 1, &argtype, &arg);
	}

	return completed;
}

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------
 */
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
 * osv.vector_sync(max_entries integer DEFAULT NULL) RETURNS bigint
 *
 * Drains the outbox in the calling session, within the caller's
 * transaction: claim, send and record run batch after batch until nothing
 * is due, max_entries entries were claimed or the target fails (reported
 * as a WARNING; the failure is recorded like the worker's).  Returns the
 * entries completed.
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

		SPI_connect();
		if (target_backing_off(&wait_ms))
		{
			SPI_finish();
			MemoryContextSwitchTo(old);
			break;
		}
		n = vs_claim((int) Min(remaining, (int64) osv_vector_sync_batch_size), &cursor, &batch, batch_cxt);
		SPI_finish();
		if (n == 0)
		{
			MemoryContextSwitchTo(old);
			break;
		}
		remaining -= n;

		vs_send(&batch);

		SPI_connect();
		completed += vs_record(&batch);
		SPI_finish();
		MemoryContextSwitchTo(old);

		if (batch.target_failed)
		{
			qdrant_raise(WARNING, &batch.target_error);
			break;
		}
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

	if (limit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_entries must be positive"),
				 errdetail("max_entries is %d.", limit)));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	(void) vs_claim(limit, &cursor, &batch, rsinfo->econtext->ecxt_per_query_memory);
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
	SPI_connect();
	completed = vs_record(&batch);
	/* The entries of the claim that were not listed are released as they are. */
	{
		Oid			argtype = INT8OID;
		Datum		arg = Int64GetDatum(claim_id);

		exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
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
 * Qdrant is configured, or a repair) and remembers the target it was done
 * for.  Returns how many were enqueued.
 */
PG_FUNCTION_INFO_V1(osv_vector_resync);
Datum
osv_vector_resync(PG_FUNCTION_ARGS)
{
	uint64		n;

	require_qdrant();
	SPI_connect();
	n = enqueue_all_live();
	set_synced_url();
	SPI_finish();
	wake_worker_at_commit();
	PG_RETURN_INT64((int64) n);
}

/*
 * osv.vector_reconcile() RETURNS bigint
 *
 * Anti-entropy: scrolls the whole collection and enqueues every point that
 * has no live summary with an embedding (orphans), whose version (the
 * fingerprint of its content) differs from the summary's (stale), and every
 * live summary with an embedding that has no point (missing).  It only
 * enqueues: the sync then derives each point's state from the summary at
 * send time, so a summary written during the scroll is never wrongly
 * deleted.  Returns how many entries were enqueued.
 */
PG_FUNCTION_INFO_V1(osv_vector_reconcile);
Datum
osv_vector_reconcile(PG_FUNCTION_ARGS)
{
	QdrantError err;
	int64		offset = 0;
	bool		has_offset = false;
	int64	   *seen = NULL;
	int			nseen = 0;
	int			seen_cap = 0;
	uint64		enqueued = 0;
	Datum	   *seen_datums;

	require_qdrant();
	{
		bool		created;

		if (!qdrant_ensure_collection(&created, &err))
			qdrant_raise(ERROR, &err);
	}

	SPI_connect();
	for (;;)
	{
		QdrantScrollPage page;
		Datum	   *page_ids;
		Datum	   *bad;
		int			nbad = 0;
		Oid			argtype = INT8ARRAYOID;
		Datum		arg;
		int			j = 0;

		CHECK_FOR_INTERRUPTS();
		if (!qdrant_scroll(has_offset ? &offset : NULL, RECONCILE_PAGE, &page, &err))
			qdrant_raise(ERROR, &err);
		if (page.npoints == 0)
			break;

		page_ids = palloc(sizeof(Datum) * page.npoints);
		bad = palloc(sizeof(Datum) * page.npoints);
		if (nseen + page.npoints > seen_cap)
		{
			seen_cap = Max(seen_cap * 2, nseen + page.npoints);
			seen = seen ? repalloc(seen, sizeof(int64) * seen_cap) : palloc(sizeof(int64) * seen_cap);
		}
		for (int i = 0; i < page.npoints; i++)
		{
			page_ids[i] = Int64GetDatum(page.ids[i]);
			seen[nseen++] = page.ids[i];
		}
		arg = int8_array(page_ids, page.npoints);
		exec_cached(SPI_OK_SELECT, "SELECT s.id, " POINT_COLUMNS " FROM osv.summaries s"
						 " WHERE s.id OPERATOR(pg_catalog.=) ANY ($1)"
						 "   AND s.deleted_at IS NULL AND s.embedding IS NOT NULL"
						 " ORDER BY s.id",
						 1, &argtype, &arg, true, 0);

		/* Both lists are in id order: walk them together. */
		for (int i = 0; i < page.npoints; i++)
		{
			int64		id = page.ids[i];
			bool		ok = false;

			while (j < (int) SPI_processed)
			{
				bool		isnull;
				int64		sid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
															  SPI_tuptable->tupdesc, 1, &isnull));

				if (sid < id)
				{
					j++;
					continue;
				}
				if (sid == id)
				{
					QdrantPoint p;
					char	   *problem;

					if (read_point(id, j, 2, &p, &problem) && problem == NULL)
						ok = page.has_version[i] && page.versions[i] == p.version;
					j++;
				}
				break;
			}
			if (!ok)
				bad[nbad++] = Int64GetDatum(id);
		}
		if (nbad > 0)
			enqueued += enqueue_array(int8_array(bad, nbad));

		if (!page.has_next)
			break;
		offset = page.next_offset;
		has_offset = true;
	}

	/* Live summaries with an embedding that Qdrant does not have. */
	seen_datums = palloc(sizeof(Datum) * Max(nseen, 1));
	for (int i = 0; i < nseen; i++)
		seen_datums[i] = Int64GetDatum(seen[i]);
	{
		Oid			argtype = INT8ARRAYOID;
		Datum		arg = int8_array(seen_datums, nseen);
		char	   *sql = psprintf("INSERT INTO osv.vector_outbox AS o (summary_id) "
								   "SELECT s.id FROM osv.summaries s "
								   "WHERE s.deleted_at IS NULL AND s.embedding IS NOT NULL "
								   "AND NOT EXISTS (SELECT FROM pg_catalog.unnest($1) AS u(id) WHERE u.id OPERATOR(pg_catalog.=) s.id) %s",
								   enqueue_set_clause);

		enqueued += run_enqueue_sql(sql, 1, &argtype, &arg);
	}
	SPI_finish();
	if (enqueued > 0)
		wake_worker_at_commit();
	PG_RETURN_INT64((int64) enqueued);
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
	char	   *problem;
	QdrantError err;
	QdrantHit  *hits;
	int			nhits;
	int			returned = 0;

	require_qdrant();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(1);
	if (k < 1 || k > OSV_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", OSV_MAX_K),
				 errdetail("k is %d.", k)));
	query = PG_GETARG_ARRAYTYPE_P(0);
	problem = embedding_problem(query);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid query vector"),
				 errdetail("In the query, %s.", problem)));
	if (!PG_ARGISNULL(2))
		user_id = PG_GETARG_INT64(2);
	if (!PG_ARGISNULL(3))
		topic = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
		exclude_id = PG_GETARG_INT64(4);

	InitMaterializedSRF(fcinfo, 0);

	/*
	 * No check of the collection here: a search must not create it (the
	 * sync does, and resends everything when it does); a collection that
	 * does not exist yet holds nothing.
	 */
	if (!qdrant_query((float4 *) ARR_DATA_PTR(query), ARR_DIMS(query)[0],
					  Min(k + 10, OSV_MAX_K),
					  PG_ARGISNULL(2) ? NULL : &user_id, topic,
					  PG_ARGISNULL(4) ? NULL : &exclude_id,
					  &hits, &nhits, &err))
	{
		if (err.kind != QDRANT_GONE)
			qdrant_raise(ERROR, &err);
		nhits = 0;
	}

	if (nhits > 0)
	{
		Datum	   *ids = palloc(sizeof(Datum) * nhits);
		Oid			argtype = INT8ARRAYOID;
		Datum		arg;
		bool	   *live;

		for (int i = 0; i < nhits; i++)
			ids[i] = Int64GetDatum(hits[i].id);
		arg = int8_array(ids, nhits);
		SPI_connect();
		exec_cached(SPI_OK_SELECT, "SELECT u.ord::int4 FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(id, ord)"
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

	if (!qdrant_configured())
		PG_RETURN_VOID();
	if (!qdrant_delete_user(user_id, &err) && err.kind != QDRANT_GONE)
		qdrant_raise(ERROR, &err);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * The worker
 * ------------------------------------------------------------------------
 */
static void
worker_unpublish(int code, Datum arg)
{
	if (vs_shared != NULL && vs_shared->worker_pid == MyProcPid)
	{
		vs_shared->worker_pgprocno = -1;
		vs_shared->worker_pid = 0;
	}
}

/* Commit the worker's transaction; back in the loop's memory context. */
static void
worker_end(MemoryContext loop_cxt)
{
	osv_worker_transaction_end();
	MemoryContextSwitchTo(loop_cxt);
}

/*
 * How long to sleep after a claim found nothing (SPI connected): until the
 * next pending entry is due, but at most 1 s while due entries exist that
 * could not be claimed (row-locked by a writer, whose commit wakes the
 * worker anyway, or claimed by another drainer), and at most the naptime.
 */
static long
next_due_ms(void)
{
	bool		isnull;
	Datum		d;
	int64		wait_ms = osv_vector_sync_naptime;

	/* Due as the claim saw it: at now(), the claim's transaction time. */
	exec_cached(SPI_OK_SELECT, "SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', (SELECT pg_catalog.min(o.next_attempt_at)"
					 "   FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending'"
					 "   AND o.next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now())"
					 "   OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)::bigint,"
					 " EXISTS (SELECT FROM osv.vector_outbox o WHERE o.state OPERATOR(pg_catalog.=) 'pending'"
					 "   AND o.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())",
					 0, NULL, NULL, true, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		wait_ms = Min(wait_ms, DatumGetInt64(d));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (DatumGetBool(d))
		wait_ms = Min(wait_ms, 1000);
	return (long) Max(wait_ms, 1);
}

/*
 * One round of the worker: claim (transaction 1, committed), send (no
 * transaction), record (transaction 2).  Returns how long to sleep, 0 to
 * go on at once.
 */
static long
worker_round(MemoryContext loop_cxt, VsClaimCursor *cursor, bool *leases_released)
{
	VsBatch		batch;
	long		wait_ms;
	int			n;
	bool		idle = false;
	TimestampTz t_claim = GetCurrentTimestamp();
	TimestampTz t_send;
	TimestampTz t_record;

	osv_worker_transaction_begin("osv vector sync: claiming");
	if (!OidIsValid(get_extension_oid("osv", true)) || !qdrant_configured())
	{
		/*
		 * Nothing to do here; the latch or the naptime brings us back.  In
		 * embedded mode (no URL) changes are not queued, so whatever
		 * target comes next must be filled from scratch: forget which one
		 * was synced.  (Each reload sets the latch, so a URL emptied and
		 * set again is seen; a change of both within one round is not,
		 * and needs osv.vector_resync().)
		 */
		if (OidIsValid(get_extension_oid("osv", true)))
		{
			exec_cached(SPI_OK_UPDATE,
						"UPDATE osv.vector_sync_targets SET synced_url = NULL"
						" WHERE target = 'qdrant' AND synced_url IS NOT NULL",
						0, NULL, NULL, false, 0);
		}
		worker_end(loop_cxt);
		*leases_released = false;
		return osv_vector_sync_naptime;
	}

	if (!*leases_released)
	{
		/* Claims committed by a worker that died are ours to retry now. */
		exec_cached(SPI_OK_UPDATE, "UPDATE osv.vector_outbox SET claim_id = NULL, claimed_version = NULL, lease_until = NULL"
						 " WHERE claim_id IS NOT NULL", 0, NULL, NULL, false, 0);
		if (SPI_processed > 0)
			elog(LOG, "osv vector sync released %llu outbox entries claimed before a restart",
				 (unsigned long long) SPI_processed);
		*leases_released = true;
	}

	/* A new target: backfill it once. */
	{
		Oid			argtype = TEXTOID;
		Datum		arg = CStringGetTextDatum(target_url());

		exec_cached(SPI_OK_SELECT, "SELECT FROM osv.vector_sync_targets"
						 " WHERE target = 'qdrant' AND synced_url IS DISTINCT FROM $1",
						 1, &argtype, &arg, true, 1);
		if (SPI_processed > 0)
		{
			uint64		count = enqueue_all_live();

			set_synced_url();
			elog(LOG, "osv vector sync enqueued %llu summaries for the new target \"%s\"",
				 (unsigned long long) count, osv_qdrant_url);
		}
	}

	if (target_backing_off(&wait_ms))
	{
		worker_end(loop_cxt);
		return Min(wait_ms, (long) osv_vector_sync_naptime);
	}

	n = vs_claim(osv_vector_sync_batch_size, cursor, &batch, loop_cxt);

	/*
	 * Short of a full batch, the scan has reached the end of what is due:
	 * the next one starts from the beginning again, and so picks up the
	 * entries this pass went by (locked by a writer, released, or
	 * enqueued by a transaction that began before the last claimed key);
	 * so it does after VS_CLAIMS_PER_PASS full ones.  Nothing found past
	 * the middle is no reason to sleep: start over at once.
	 */
	if (n == 0 && cursor->claims > 0)
	{
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
		wait_ms = 0;
		idle = true;
	}
	else if (n == 0)
	{
		wait_ms = next_due_ms();
		idle = true;
	}
	else if (n < osv_vector_sync_batch_size || ++cursor->claims >= VS_CLAIMS_PER_PASS)
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
	worker_end(loop_cxt);
	if (idle)
		return wait_ms;

	pgstat_report_activity(STATE_RUNNING, "osv vector sync: sending");
	t_send = GetCurrentTimestamp();
	vs_send(&batch);

	t_record = GetCurrentTimestamp();
	osv_worker_transaction_begin("osv vector sync: recording");
	{
		uint64		completed = vs_record(&batch);

		elog(DEBUG1, "osv vector sync: batch %lld of %d entries, %llu completed (claim %ld ms, send %ld ms, record %ld ms)",
			 (long long) batch.claim_id, n, (unsigned long long) completed,
			 (long) TimestampDifferenceMilliseconds(t_claim, t_send),
			 (long) TimestampDifferenceMilliseconds(t_send, t_record),
			 (long) TimestampDifferenceMilliseconds(t_record, GetCurrentTimestamp()));
	}
	worker_end(loop_cxt);

	if (batch.target_failed)
	{
		*cursor = (VsClaimCursor) VS_CLAIM_CURSOR_START;
		qdrant_raise(LOG, &batch.target_error);
		return 1;				/* the target's retry_at sets the pace */
	}
	return 0;
}

/*
 * Main of the vector sync worker.
 */
void
osv_vector_sync_main(Datum main_arg)
{
	MemoryContext worker_cxt;
	MemoryContext loop_cxt;
	bool		leases_released = false;
	VsClaimCursor cursor = VS_CLAIM_CURSOR_START;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	roles_worker_connect("osv vector sync");
	pgstat_report_appname("osv vector sync");

	if (vs_shared != NULL)
	{
		vs_shared->worker_pid = MyProcPid;
		vs_shared->worker_pgprocno = MyProc->pgprocno;
		on_shmem_exit(worker_unpublish, (Datum) 0);
	}
	elog(LOG, "osv vector sync worker started in database \"%s\"", osv_database);

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "osv vector sync",
									   ALLOCSET_DEFAULT_SIZES);
	loop_cxt = AllocSetContextCreate(worker_cxt, "osv vector sync batch",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		wait_ms = worker_round(loop_cxt, &cursor, &leases_released);

		if (wait_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
