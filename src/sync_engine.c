/*-------------------------------------------------------------------------
 *
 * sync_engine.c
 *		Claim, send, record: the sync of the outbox to Qdrant.
 *
 * A batch is synced in three steps, shared by the worker (sync_worker.c)
 * and by the SQL-callable osv.vector_sync() (vector_sql.c), so it runs in
 * either process:
 *	 claim:  UPDATE ... FOR UPDATE SKIP LOCKED sets claim_id, claimed_version,
 *			 a lease and attempts + 1 (row locks on the claimed entries
 *			 until the transaction ends); then the summaries are read
 *			 under a fresh snapshot (so it sees every change committed
 *			 before the claim), by probes of osv.summaries' primary key
 *			 (AccessShareLock on it and its index) or, where row-level
 *			 security could hide rows, by a query, and each point's
 *			 desired state is derived;
 *	 send:	 HTTP to Qdrant with no SPI use (qdrant.c), no transaction needed;
 *	 record: delete the rows whose version is still the claimed one, back
 *			 off or park failures, release the rest (row locks again).  The
 *			 worker's record takes the rows no other transaction holds
 *			 (SKIP LOCKED) and keeps the others for a later round, so it
 *			 never waits for an application's row lock: an application's
 *			 transaction that enqueues several entries could deadlock
 *			 with it otherwise, or stall it while it stays open.
 * The worker commits after the claim and runs the record in a new
 * transaction, so no transaction is open during HTTP; osv.vector_sync()
 * runs all three in the caller's transaction (a function cannot commit),
 * holding the claimed rows' locks during the call.  The worker pipelines
 * batches of upserts (sync_send_prepare/start/finish): one batch's request
 * is in flight while the next is claimed and written and the previous
 * recorded.
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
 * Writes in doubt.  A write that was sent but got no valid answer (a
 * time-out or lost connection after sending, a 5xx, a 2xx that is not
 * Qdrant's success) may still be applied by Qdrant, after anything osv
 * sends later.  Its entries get in_doubt_until = now + the fence
 * (osv.vector_sync_in_doubt_fence, the time within which Qdrant is assumed
 * to apply or drop a request osv gave up on; counted from when osv gave
 * up, which is after Qdrant received the request).  A success of a send
 * claimed before in_doubt_until does not delete the entry: it stays
 * pending, due at in_doubt_until, so the desired state is sent again when
 * the old request can no longer overtake it.  An upsert in doubt of a user
 * who no longer exists queues the user's erasure sweep again
 * (osv.vector_erasure_sweeps, claimed, sent and recorded like a batch),
 * due at the fence, and puts the Qdrant state of the user's receipt in the
 * erasure ledger back to pending until that sweep is done.  A claim keeps
 * the user of each point it may upsert (vector_outbox.claimed_user_id), so
 * a claim released in doubt after an ERROR or a crash names its users
 * too, and no process claims a user's sweep while a claim of that user's
 * upsert holds: the sweep goes after the upsert is answered or in doubt.
 *
 * While a re-embedding runs (reembedding.c), each entry has a second
 * desired state, in the next collection, derived from embedding_next the
 * same way; an entry is done when both collections hold theirs (the next
 * one is written after the current one succeeded), so deletes reach both.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/sync_engine.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "outbox.h"
#include "reembedding.h"
#include "settings.h"
#include "spi_plan.h"
#include "sync_engine.h"
#include "vector_check.h"

/* Upper bound of an upsert body (Qdrant refuses bodies over 32 MB). */
#define MAX_UPSERT_BYTES (16 * 1024 * 1024)

/* A bigint[] of n elements (Int64GetDatum), as a Datum for SPI. */
Datum
sync_int8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ------------------------------------------------------------------------
 * Embeddings and fingerprints
 * ------------------------------------------------------------------------
 */

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

/* The problem of a point whose created_at is infinity or -infinity. */
#define NOT_FINITE_CREATED_AT "created_at is not finite: Qdrant takes an RFC 3339 time"

/*
 * Fill a point from SPI result row "row": the key columns of POINT_COLUMNS
 * start at "first", and "live" and "live" + 1 are the columns saying
 * whether the row is a point and holding its vector, which is checked for
 * "dims" dimensions (0: those of the current model).  Returns false when
 * the row is not a point; sets *problem when it is one that cannot be
 * sent.  Memory of the current context.
 */
static bool
read_point(int64 id, uint64 row, int first, int live, int dims, QdrantPoint *p, char **problem)
{
	HeapTuple	tup = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;
	ArrayType  *arr;
	VectorProblem vp;

	*problem = NULL;
	d = SPI_getbinval(tup, desc, live, &isnull);
	if (isnull || !DatumGetBool(d))
		return false;
	arr = DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, live + 1, &isnull));
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->user_id = DatumGetInt64(SPI_getbinval(tup, desc, first + 2, &isnull));
	d = SPI_getbinval(tup, desc, first + 3, &isnull);
	p->topic = isnull ? NULL : TextDatumGetCString(d);
	p->created_at = SPI_getvalue(tup, desc, first + 4);
	if (p->created_at == NULL)
	{
		*problem = pstrdup(NOT_FINITE_CREATED_AT);
		return true;
	}
	if (dims > 0 ? vector_problem_dims(arr, VECTOR_EMBEDDING, dims, "the re-embedding has", &vp, NULL)
		: vector_problem(arr, VECTOR_EMBEDDING, &vp, NULL))
	{
		*problem = psprintf("%s: %s", vp.message, vp.detail);
		return true;
	}
	p->vector = (float4 *) ARR_DATA_PTR(arr);
	p->dimensions = ARR_DIMS(arr)[0];
	p->version = point_fingerprint(p);
	return true;
}

/*
 * Fill a point from SPI result row "row", whose point columns start at
 * column "first" (POINT_COLUMNS).  Returns false when the row is not a
 * point (no live summary with an embedding); sets *problem when it is one
 * that cannot be sent.  Memory of the current context.
 */
bool
sync_read_point(int64 id, uint64 row, int first, QdrantPoint *p, char **problem)
{
	return read_point(id, row, first, first, 0, p, problem);
}

/*
 * The point of the next collection, from the columns NEXT_POINT_COLUMNS
 * after POINT_COLUMNS (which start at "first"), of "dims" dimensions.
 */
static bool
read_next_point(int64 id, uint64 row, int first, int dims, QdrantPoint *p, char **problem)
{
	return read_point(id, row, first, first + 5, dims, p, problem);
}

/*
 * created_at as POINT_COLUMNS writes it (to_char(timezone('UTC', ts),
 * 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')): the same text, since the fingerprint
 * hashes it; years outside 1 .. 9999 go through to_char itself.  NULL
 * when the timestamp is not finite.  Memory of the current context.
 */
static char *
format_created_at(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return NULL;
	if (tm.tm_year < 1 || tm.tm_year > 9999)
		return TextDatumGetCString(DirectFunctionCall2(timestamp_to_char, TimestampGetDatum(ts),
													   CStringGetTextDatum("YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"")));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * Whether the claimed summaries can be read straight from the table
 * (read_claimed_direct()) rather than by a query: when the user may read
 * the table and row-level security, if it applies, lets every row through
 * (a member of osv_admin, whose policy admin_all is USING (true): the
 * worker's role; superusers and the owner bypass it).  Otherwise the
 * query applies the policies.
 */
static bool
can_read_directly(Oid relid)
{
	Oid			admin;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return false;
	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return true;
	admin = get_role_oid("osv_admin", true);
	return OidIsValid(admin) && has_privs_of_role(GetUserId(), admin);
}

/* Attribute number of column "name" of relation relid. */
static AttrNumber
summary_attnum(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of osv.summaries does not exist", name);
	return attnum;
}

/*
 * Read the desired state of the claimed entries (ids[i] claimed at
 * versions[i], in summary_id order) into batch->entries, straight from
 * osv.summaries: one probe of its primary key per entry under a fresh
 * snapshot (it sees every change committed before the claim), the
 * embedding copied once, created_at formatted here.  This is what the
 * read query does, without its result tuples, the copies SPI makes of
 * them and to_char: a third of the worker's time in a backfill went there.
 * In a transaction; memory of mcxt.
 */
static void
read_claimed_direct(Oid relid, VsBatch *batch, const Datum *ids, const Datum *versions,
					int n, MemoryContext mcxt)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Relation	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	AttrNumber	a_user = summary_attnum(relid, "user_id");
	AttrNumber	a_topic = summary_attnum(relid, "topic");
	AttrNumber	a_embedding = summary_attnum(relid, "embedding");
	AttrNumber	a_created = summary_attnum(relid, "created_at");
	AttrNumber	a_deleted = summary_attnum(relid, "deleted_at");
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan = index_beginscan(rel, idx, snapshot, 1, 0);
	MemoryContext old = MemoryContextSwitchTo(mcxt);

	batch->n = n;
	batch->entries = palloc0(sizeof(VsEntry) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		VsEntry    *e = &batch->entries[i];
		ScanKeyData key;
		bool		isnull;
		Datum		d;
		QdrantPoint *p = &e->point;
		ArrayType  *arr;
		VectorProblem vp;

		e->summary_id = DatumGetInt64(ids[i]);
		e->version = DatumGetInt64(versions[i]);
		if (e->summary_id == 0)
			continue;
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, ids[i]);
		index_rescan(scan, &key, 1, NULL, 0);
		if (!index_getnext_slot(scan, ForwardScanDirection, slot))
			continue;			/* gone: delete the point */
		(void) slot_getattr(slot, a_deleted, &isnull);
		if (!isnull)
			continue;
		d = slot_getattr(slot, a_embedding, &isnull);
		if (isnull)
			continue;
		e->upsert = true;
		arr = DatumGetArrayTypePCopy(d);
		p->id = e->summary_id;
		p->user_id = DatumGetInt64(slot_getattr(slot, a_user, &isnull));
		d = slot_getattr(slot, a_topic, &isnull);
		p->topic = isnull ? NULL : TextDatumGetCString(d);
		p->created_at = format_created_at(DatumGetTimestampTz(slot_getattr(slot, a_created, &isnull)));
		if (p->created_at == NULL)
		{
			e->outcome = VS_PARKED;
			e->error = psprintf("summary %lld cannot be sent to Qdrant: %s",
								(long long) e->summary_id, NOT_FINITE_CREATED_AT);
		}
		else if (vector_problem(arr, VECTOR_EMBEDDING, &vp, NULL))
		{
			e->outcome = VS_PARKED;
			e->error = psprintf("summary %lld cannot be sent to Qdrant: %s: %s",
								(long long) e->summary_id, vp.message, vp.detail);
		}
		else
		{
			p->vector = (float4 *) ARR_DATA_PTR(arr);
			p->dimensions = ARR_DIMS(arr)[0];
			p->version = point_fingerprint(p);
		}
		ExecClearTuple(slot);
	}
	MemoryContextSwitchTo(old);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
}

/* Name of the target's synced URL (base URL and collection). */
char *
sync_target_url(void)
{
	return psprintf("%s|%s", osv_qdrant_url, osv_qdrant_collection);
}

/* Mark the target "url" (sync_target_url()) as synced.  SPI connected. */
void
sync_set_synced_url(const char *url)
{
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(url);

	spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET synced_url = $1 WHERE target OPERATOR(pg_catalog.=) 'qdrant'",
				1, &argtype, &arg, false, 0);
}


/* ------------------------------------------------------------------------
 * Claim, send, record
 * ------------------------------------------------------------------------
 */

/* A new claim id (osv.vector_outbox_claim_seq).  SPI connected. */
int64
sync_new_claim_id(void)
{
	bool		isnull;

	spi_execute(SPI_OK_SELECT, "SELECT pg_catalog.nextval('osv.vector_outbox_claim_seq')", 0, NULL, NULL, false, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Whether the target is backing off; *wait_ms gets the time left.  SPI
 * connected.
 */
bool
sync_target_backing_off(long *wait_ms)
{
	bool		isnull;
	Datum		d;

	*wait_ms = 0;
	spi_execute(SPI_OK_SELECT, "SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', t.retry_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)::bigint "
				"FROM osv.vector_sync_targets t WHERE t.target OPERATOR(pg_catalog.=) 'qdrant' AND t.retry_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()", 0, NULL, NULL, true, 1);
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*wait_ms = isnull ? 1 : Max(DatumGetInt64(d), 1);
	return true;
}

/* A claimed entry, for sorting by id. */
typedef struct ClaimedEntry
{
	Datum		id;
	Datum		version;
} ClaimedEntry;

static int
compare_claimed(const void *a, const void *b)
{
	int64		x = DatumGetInt64(((const ClaimedEntry *) a)->id);
	int64		y = DatumGetInt64(((const ClaimedEntry *) b)->id);

	return (x > y) - (x < y);
}

/* Sort claimed ids, and their versions with them, by id. */
static void
sort_claimed(Datum *ids, Datum *versions, int n)
{
	ClaimedEntry *entries = palloc(sizeof(ClaimedEntry) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		entries[i].id = ids[i];
		entries[i].version = versions[i];
	}
	qsort(entries, n, sizeof(ClaimedEntry), compare_claimed);
	for (int i = 0; i < n; i++)
	{
		ids[i] = entries[i].id;
		versions[i] = entries[i].version;
	}
	pfree(entries);
}

/*
 * The outbox swings from empty to a backfill of every summary faster than
 * autovacuum analyzes it, so its statistics are mostly stale, and every
 * ANALYZE of it invalidates the kept plans of the claim and the record.
 * With a stale estimate of a few rows the planner reads every pending row
 * in a bitmap scan and sorts them all on each claim (measured: 60 ms a
 * claim at 100,000 pending rows), or evaluates "summary_id = ANY (ids)"
 * against every row of a sequential scan (256 comparisons a row: a backfill
 * after an ANALYZE of the empty outbox took 60 s instead of 5), so that a
 * backfill costs O(n^2); walking the indexes and stopping after "limit"
 * rows, or probing the primary key once per id, is right at any size.  So
 * the claim and the record are planned with sequential scans, bitmap scans
 * and sorts off, at a GUC nest level of their own, as a function's SET
 * clause would do it (an error unwinds it with the transaction).  Returns
 * the level for AtEOXact_GUC(true, level).
 */
static int
outbox_plan_level(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * Claim up to "limit" due entries and read their desired state into
 * *batch, allocated in mcxt (which must outlive SPI).  Each claimed row
 * keeps the owner of its summary (claimed_user_id: the user of the point
 * it may upsert), read by a primary key probe in the claim itself, so
 * that the claim still names the user after an erasure deleted the
 * summary: no sweep of that user is claimed while the claim holds
 * (sync_claim_sweeps()), and a claim released in doubt puts the user in
 * in_doubt_user_id (release_dead_claims() of sync_worker.c).  (A user
 * change of the summary committed between the claim's snapshot and its
 * lock would leave the old user here: osv never changes a summary's
 * user.)  The claim's id is
 * claim_id, or a new one from osv.vector_outbox_claim_seq when it is 0 (the
 * worker claims every batch of a life under one id: see sync_worker.c).
 * SPI connected, inside a transaction.  Returns the number claimed.
 */
int
sync_claim(int limit, int64 claim_id, VsClaimCursor *cursor, VsBatch *batch,
		   MemoryContext mcxt)
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

	batch->claim_id = claim_id != 0 ? claim_id : sync_new_claim_id();

	/* Long enough for every request the batch can need to time out. */
	lease_ms = ((int64) limit + 4) * (osv_qdrant_timeout + osv_qdrant_connect_timeout) + 60000;
	claim_values[0] = Int32GetDatum(limit);
	claim_values[1] = Int64GetDatum(batch->claim_id);
	claim_values[2] = Int64GetDatum(lease_ms);
	claim_values[3] = TimestampTzGetDatum(cursor->next_attempt_at);
	claim_values[4] = Int64GetDatum(cursor->summary_id);

	save_nestlevel = outbox_plan_level();
	/*
	 * The locked rows' ctids go through an array, so that the update reads
	 * them by a TID scan (no probe of the primary key).  A row that a
	 * writer changed after the statement's snapshot is locked in its new
	 * version, which that snapshot does not see: it is left for the next
	 * claim.
	 */
	spi_execute(SPI_OK_UPDATE_RETURNING,
				" UPDATE osv.vector_outbox o"
				" SET claim_id = $2, claimed_version = o.version,"
				"     lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $3 OPERATOR(pg_catalog./) 1000.0),"
				"     attempts = o.attempts OPERATOR(pg_catalog.+) 1, last_attempt_at = pg_catalog.now(),"
				"     claimed_user_id = (SELECT s.user_id FROM osv.summaries s WHERE s.id OPERATOR(pg_catalog.=) o.summary_id)"
				" WHERE o.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
				"   SELECT d.ctid FROM osv.vector_outbox d"
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

		/*
		 * The largest key claimed: the next claim of this call starts after
		 * it.
		 */
		if (due > cursor->next_attempt_at ||
			(due == cursor->next_attempt_at && DatumGetInt64(ids[i]) > cursor->summary_id))
		{
			cursor->next_attempt_at = due;
			cursor->summary_id = DatumGetInt64(ids[i]);
		}
	}
	/* The collections to write, as of after the claim (which waited for a switch). */
	{
		ReembeddingLayout layout;

		reembedding_layout(&layout);
		qdrant_set_layout(layout.cur_version, layout.cur_dims, layout.next_version, layout.next_dims);
		batch->next_dims = layout.next_dims;
	}

	/*
	 * In summary_id order, as the read query returns them; straight from
	 * the table unless a re-embedding runs (its next embedding is read by
	 * the query).
	 */
	if (batch->next_dims == 0)
	{
		Oid			relid = get_relname_relid("summaries", get_namespace_oid("osv", false));

		if (OidIsValid(relid) && can_read_directly(relid))
		{
			sort_claimed(ids, versions, n);
			read_claimed_direct(relid, batch, ids, versions, n, mcxt);
			return batch->n;
		}
	}
	read_values[0] = sync_int8_array(ids, n);
	read_values[1] = sync_int8_array(versions, n);

	/* A new statement, so a new snapshot: it sees what the claim waited for. */
	/* LATERAL: one primary key probe per entry, never a scan of all rows. */
	spi_execute(SPI_OK_SELECT, "SELECT c.summary_id, c.version, " POINT_COLUMNS ", " NEXT_POINT_COLUMNS
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
		e->upsert = sync_read_point(e->summary_id, i, 3, &e->point, &problem);
		if (problem == NULL && batch->next_dims > 0)
			e->upsert_next = read_next_point(e->summary_id, i, 3, batch->next_dims,
											 &e->point_next, &problem);
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

static void send_upserts(VsBatch *batch, VsEntry **list, int count);

/*
 * The outcome of an upsert of the n entries of "list" (ok, or the error
 * *err): done, in doubt with a failure of the target, a failure of the
 * target, or a rejection, which sends each point on its own to find the
 * poison.
 */
static void
upsert_outcome(VsBatch *batch, VsEntry **list, int n, bool ok, const QdrantError *err)
{
	if (ok)
	{
		batch->any_sent = true;
		for (int i = 0; i < n; i++)
			list[i]->outcome = VS_DONE;
	}
	else if (err->kind != QDRANT_REJECTED)
	{
		if (err->in_doubt)
			for (int i = 0; i < n; i++)
				list[i]->outcome = VS_IN_DOUBT;
		target_failure(batch, err);
	}
	else if (n > 1)
	{
		/* Find the poison: send each point on its own. */
		for (int i = 0; i < n && !batch->target_failed; i++)
			send_upserts(batch, &list[i], 1);
	}
	else
	{
		list[0]->outcome = VS_FAILED;
		list[0]->error = err->message;
	}
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
		upsert_outcome(batch, &list[start], n, qdrant_upsert(points, n, &err), &err);
		pfree(points);
		start += n;
	}
}

/*
 * The entries done in the current collection, in the next one (the caller
 * addresses it with qdrant_use_next()): their new embedding, or a delete.
 * A rejected batch of upserts is split into single points; an entry that
 * fails here is not done.
 */
static void
send_next(VsBatch *batch)
{
	QdrantPoint *points = palloc(sizeof(QdrantPoint) * Max(batch->n, 1));
	VsEntry   **upserts = palloc(sizeof(VsEntry *) * Max(batch->n, 1));
	VsEntry   **delete_entries = palloc(sizeof(VsEntry *) * Max(batch->n, 1));
	int64	   *deletes = palloc(sizeof(int64) * Max(batch->n, 1));
	int			nupserts = 0;
	int			ndeletes = 0;
	QdrantError err;

	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (e->summary_id == 0 || e->outcome != VS_DONE)
			continue;
		if (e->upsert_next)
		{
			points[nupserts] = e->point_next;
			upserts[nupserts++] = e;
		}
		else
		{
			deletes[ndeletes] = e->summary_id;
			delete_entries[ndeletes++] = e;
		}
	}
	if (ndeletes > 0 && !qdrant_delete_ids(deletes, ndeletes, &err))
	{
		for (int i = 0; i < ndeletes; i++)
		{
			delete_entries[i]->outcome = err.kind == QDRANT_REJECTED ? VS_FAILED :
				err.in_doubt ? VS_IN_DOUBT : VS_UNSENT;
			delete_entries[i]->error = err.message;
		}
		if (err.kind != QDRANT_REJECTED)
		{
			target_failure(batch, &err);
			return;
		}
	}
	if (nupserts > 0 && !qdrant_upsert(points, nupserts, &err))
	{
		bool		split = err.kind == QDRANT_REJECTED && nupserts > 1;

		for (int i = 0; i < nupserts; i++)
		{
			if (batch->target_failed)
			{
				upserts[i]->outcome = VS_UNSENT;
				continue;
			}
			if (split && qdrant_upsert(&points[i], 1, &err))
				continue;
			upserts[i]->outcome = err.kind == QDRANT_REJECTED ? VS_FAILED :
				err.in_doubt ? VS_IN_DOUBT : VS_UNSENT;
			upserts[i]->error = err.message;
			if (err.kind != QDRANT_REJECTED)
				target_failure(batch, &err);
		}
	}
}

/*
 * Bring Qdrant to the desired state of every entry of the batch.  No SPI,
 * no transaction needed.  Fills the outcome of each entry and, for a
 * failure of the target, batch->target_error.
 */
void
sync_send(VsBatch *batch)
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
		if (qdrant_has_next())
		{
			bool		dropped;

			qdrant_use_next(true);
			dropped = qdrant_drop_collection(&err) || err.kind == QDRANT_GONE;
			qdrant_use_next(false);
			if (!dropped)
			{
				target_failure(batch, &err);
				return;
			}
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
		 * A collection osv had to create holds none of the points sent before
		 * (a first sync, a TRUNCATE, or a collection lost while the process
		 * did not look): send every live summary again.
		 */
		if (created)
			batch->resync = true;
		if (!qdrant_ensure_next(&created, &err))
		{
			target_failure(batch, &err);
			return;
		}
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
			if (err.in_doubt)
				for (int i = 0; i < ndeletes; i++)
					delete_entries[i]->outcome = VS_IN_DOUBT;
			target_failure(batch, &err);
			return;
		}
	}
	send_upserts(batch, upserts, nupserts);
	if (qdrant_has_next() && !batch->target_failed)
	{
		qdrant_use_next(true);
		send_next(batch);
		qdrant_use_next(false);
	}
}

/*
 * The worker's pipelined send of a batch of upserts: sync_send_prepare()
 * writes the body while the previous batch is still in flight,
 * sync_send_start() sends it and returns, sync_send_finish() waits for the
 * answer and fills the outcomes as sync_send() does (a rejection sends
 * each point on its own, synchronously).  Only a batch that needs nothing
 * but one upsert request goes this way: no TRUNCATE marker, no deletes,
 * no re-embedding running (two collections to write), the collection
 * known to exist, the body within MAX_UPSERT_BYTES; any
 * other goes through sync_send().  No SPI, no transaction needed.
 *
 * Prepare returns false when the batch does not qualify; otherwise the
 * body is in buffer "slot" of qdrant_upsert_body() (1 or 2: the one not
 * in flight) and the upserts in batch->pipelined (memory of the batch's
 * entries, which lives until the batch is recorded).
 */
bool
sync_send_prepare(VsBatch *batch, int slot)
{
	VsEntry   **upserts;
	QdrantPoint *points;
	int			n = 0;
	size_t		bytes = 0;

	/* A re-embedding writes two collections: sync_send() does both. */
	if (batch->n == 0 || batch->next_dims > 0 || !qdrant_collection_ensured())
		return false;
	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (e->summary_id == 0 || (!e->upsert && e->outcome != VS_PARKED))
			return false;
		if (e->outcome != VS_PARKED)
		{
			bytes += e->point.dimensions * 16 + 256;
			n++;
		}
	}
	if (n == 0 || bytes >= MAX_UPSERT_BYTES)
		return false;
	upserts = MemoryContextAlloc(GetMemoryChunkContext(batch->entries), sizeof(VsEntry *) * n);
	points = palloc(sizeof(QdrantPoint) * n);
	n = 0;
	for (int i = 0; i < batch->n; i++)
	{
		if (batch->entries[i].outcome == VS_PARKED)
			continue;
		upserts[n] = &batch->entries[i];
		points[n++] = batch->entries[i].point;
	}
	batch->pipelined = upserts;
	batch->npipelined = n;
	batch->body = qdrant_upsert_body(points, n, slot);
	pfree(points);
	return true;
}

/* Send the body sync_send_prepare() wrote; returns once it is sent. */
void
sync_send_start(VsBatch *batch)
{
	CHECK_FOR_INTERRUPTS();
	qdrant_upsert_start(batch->body);
}

/* Wait for the answer of the batch sync_send_start() sent; fill outcomes. */
void
sync_send_finish(VsBatch *batch)
{
	QdrantError err;
	bool		ok = qdrant_upsert_finish(&err);

	upsert_outcome(batch, batch->pipelined, batch->npipelined, ok, &err);
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
 * The first column of the last SPI result (bigint, not null), sorted, as a
 * palloc'd array; its length in *n.
 */
static int64 *
spi_sorted_int64s(uint64 *n)
{
	int64	   *values = palloc(sizeof(int64) * Max(SPI_processed, 1));

	*n = SPI_processed;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		values[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	qsort(values, *n, sizeof(int64), compare_int64);
	return values;
}

/*
 * Run "sql" with $1 = claim (bigint) and $2 = the bigint[] of the n ids
 * (Int64GetDatum); raises an ERROR unless SPI answers "expected".  SPI
 * connected.
 */
static void
execute_for_claim(int expected, const char *sql, Datum claim, Datum *ids, int n)
{
	Oid			types[2] = {INT8OID, INT8ARRAYOID};
	Datum		values[2];

	values[0] = claim;
	values[1] = sync_int8_array(ids, n);
	spi_execute(expected, sql, 2, types, values, false, 0);
}

/*
 * Queue again, due at the fence from now, the erasure sweep of every user
 * of "users" (a bigint[], NULLs ignored) who no longer exists: an upsert
 * of theirs went in doubt (an erasure committed while it was in flight),
 * so Qdrant may still apply it after any sweep sent so far.  The receipt
 * of the user's last erasure (found by its keyed hash) is pending in the
 * ledger again until the new sweep is done.  SPI connected.
 */
void
sync_requeue_sweeps(Datum users)
{
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int64		queued;

	values[0] = users;
	values[1] = Int32GetDatum(osv_vector_sync_in_doubt_fence);
	spi_execute(SPI_OK_SELECT, "WITH q AS (INSERT INTO osv.vector_erasure_sweeps AS w (user_id, due_at, receipt)"
				" SELECT u.user_id, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
				"   pg_catalog.make_interval(secs => $2 OPERATOR(pg_catalog./) 1000.0),"
				"   (SELECT l.receipt FROM osv.erasure_ledger l"
				"     WHERE l.user_hash OPERATOR(pg_catalog.=) osv.erasure_subject_hash('user', u.user_id::text)"
				"     ORDER BY l.erased_at DESC LIMIT 1)"
				" FROM (SELECT DISTINCT v.user_id FROM pg_catalog.unnest($1) AS v(user_id)) u"
				" WHERE u.user_id IS NOT NULL"
				"   AND NOT EXISTS (SELECT FROM osv.users x WHERE x.id OPERATOR(pg_catalog.=) u.user_id)"
				" ON CONFLICT (user_id) DO UPDATE SET due_at = GREATEST(w.due_at, EXCLUDED.due_at),"
				"   receipt = COALESCE(EXCLUDED.receipt, w.receipt)"
				" RETURNING w.receipt),"
				" r AS (UPDATE osv.erasure_ledger l"
				"   SET targets = pg_catalog.jsonb_set(l.targets, '{qdrant}', '\"pending\"'), confirmed_at = NULL,"
				"       object_written_at = NULL, object_claim_id = NULL, object_lease_until = NULL,"
				"       object_attempts = 0, object_next_attempt_at = pg_catalog.now()"
				"   FROM q WHERE l.receipt OPERATOR(pg_catalog.=) q.receipt"
				"     AND (l.targets OPERATOR(pg_catalog.->>) 'qdrant') OPERATOR(pg_catalog.=) 'confirmed')"
				" SELECT pg_catalog.count(*) FROM q",
				2, types, values, false, 0);
	queued = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (queued > 0)
		elog(LOG, "osv vector sync queued %lld erasure sweeps again after writes in doubt",
			 (long long) queued);
}

/*
 * Record the outcome of a call to the target (SPI connected): a failure of
 * the whole target (err not NULL) backs it off with jitter, exponentially
 * up to osv.vector_sync_backoff_max; a Retry-After counts, but is capped
 * there too, so that no answer stops the sync for longer.  A failure never
 * shortens a back-off already set (another worker of the pool, or an
 * operator, set a later retry_at).  A success (any_sent) ends the
 * back-off.  (Every OPERATOR() construct parses with one precedence,
 * whatever its operator: the products of the jitter are parenthesised.)
 */
void
sync_record_target(const QdrantError *err, bool any_sent)
{
	if (err != NULL)
	{
		Oid			types[4] = {TEXTOID, INT4OID, INT4OID, INT8OID};
		Datum		values[4];

		values[0] = CStringGetTextDatum(err->message);
		values[1] = Int32GetDatum(osv_vector_sync_backoff);
		values[2] = Int32GetDatum(osv_vector_sync_backoff_max);
		values[3] = Int64GetDatum(err->retry_after_ms);
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets t SET"
					" consecutive_failures = t.consecutive_failures OPERATOR(pg_catalog.+) 1,"
					" last_error = $1, last_error_at = pg_catalog.clock_timestamp(),"
					" retry_at = GREATEST(t.retry_at, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>"
					"   LEAST($3::float8, GREATEST(LEAST($3::float8, $2 OPERATOR(pg_catalog.*) pg_catalog.power(2, LEAST(t.consecutive_failures, 30)))"
					"            OPERATOR(pg_catalog.*) (0.5 OPERATOR(pg_catalog.+) (0.5 OPERATOR(pg_catalog.*) pg_catalog.random())),"
					"            $4::float8)) OPERATOR(pg_catalog./) 1000.0))"
					" WHERE t.target OPERATOR(pg_catalog.=) 'qdrant'",
					4, types, values, false, 0);
	}
	else if (any_sent)
	{
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_sync_targets SET consecutive_failures = 0,"
					" last_error = NULL, retry_at = NULL, last_success_at = pg_catalog.clock_timestamp()"
					" WHERE target OPERATOR(pg_catalog.=) 'qdrant'", 0, NULL, NULL, false, 0);
	}
}

/*
 * Move out of "batch" into *held the entries whose outbox rows another
 * transaction holds (FOR UPDATE SKIP LOCKED takes the others), keeping the
 * batch's claim and outcomes (allocated with the batch's entries, so that
 * *held outlives the transaction).  A transaction that enqueues several entries
 * (a cascade of a soft delete, say) locks them in its own order; had the
 * record waited for one of them while holding the rest, the two could
 * deadlock, and the deadlock detector may pick the application's
 * transaction.  Entries whose row is no longer of this claim (gone, or
 * claimed again by another drainer once this claim's lease expired) have
 * nothing to record: they are dropped, not held.  SPI connected.
 */
static void
split_off_held_entries(VsBatch *batch, VsBatch *held)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(batch->n, 1));
	int64	   *locked;
	uint64		nlocked;
	int64	   *ours = NULL;
	uint64		nours = 0;
	int			nfree = 0;
	int			kept = 0;

	memset(held, 0, sizeof(VsBatch));
	held->claim_id = batch->claim_id;
	if (batch->n == 0)
		return;
	/* In the batch's memory: *held outlives this transaction. */
	held->entries = MemoryContextAlloc(GetMemoryChunkContext(batch->entries),
									   sizeof(VsEntry) * batch->n);
	for (int i = 0; i < batch->n; i++)
		ids[i] = Int64GetDatum(batch->entries[i].summary_id);
	execute_for_claim(SPI_OK_SELECT, "SELECT o.summary_id FROM osv.vector_outbox o"
					  " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
					  "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)"
					  " FOR UPDATE SKIP LOCKED",
					  Int64GetDatum(batch->claim_id), ids, batch->n);
	locked = spi_sorted_int64s(&nlocked);

	/*
	 * The entries not locked: those whose row is still of this claim (as
	 * last committed) are held by another transaction.
	 */
	if (nlocked < (uint64) batch->n)
	{
		for (int i = 0; i < batch->n; i++)
		{
			if (bsearch(&batch->entries[i].summary_id, locked, nlocked, sizeof(int64), compare_int64) == NULL)
				ids[nfree++] = Int64GetDatum(batch->entries[i].summary_id);
		}
		execute_for_claim(SPI_OK_SELECT, "SELECT o.summary_id FROM osv.vector_outbox o"
						  " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
						  "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)",
						  Int64GetDatum(batch->claim_id), ids, nfree);
		ours = spi_sorted_int64s(&nours);
	}

	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (bsearch(&e->summary_id, locked, nlocked, sizeof(int64), compare_int64) != NULL)
			batch->entries[kept++] = *e;
		else if (nours > 0 && bsearch(&e->summary_id, ours, nours, sizeof(int64), compare_int64) != NULL)
			held->entries[held->n++] = *e;
		/* else: no longer this claim's row, nothing to record */
	}
	batch->n = kept;
}

/*
 * Record the outcome of a batch (SPI connected, in a transaction).
 * Returns the number of entries completed.
 *
 * With "held" not NULL (a caller that commits, the worker), only the
 * entries whose rows no other transaction holds are recorded: the others
 * go to *held (split_off_held_entries()), for the caller to record in a
 * later transaction, so that the record never waits for a row lock.
 * Without it, every entry is recorded, waiting as need be:
 * osv.vector_sync() holds its rows since the claim, in the same
 * transaction.
 */
uint64
sync_record(VsBatch *batch, VsBatch *held)
{
	Datum	   *done = palloc(sizeof(Datum) * Max(batch->n, 1));
	Datum	   *unsent = palloc(sizeof(Datum) * Max(batch->n, 1));
	Datum	   *doubt = palloc(sizeof(Datum) * Max(batch->n, 1));
	Datum	   *doubt_users = palloc(sizeof(Datum) * Max(batch->n, 1));
	bool	   *doubt_nulls = palloc(sizeof(bool) * Max(batch->n, 1));
	int			ndoubt = 0;
	int64	   *deleted = NULL;
	int			ndone = 0;
	int			nunsent = 0;
	uint64		completed = 0;
	Datum		claim = Int64GetDatum(batch->claim_id);
	int			save_nestlevel = outbox_plan_level();

	if (held != NULL)
		split_off_held_entries(batch, held);

	for (int i = 0; i < batch->n; i++)
	{
		VsEntry    *e = &batch->entries[i];

		if (e->outcome == VS_DONE)
			done[ndone++] = Int64GetDatum(e->summary_id);
		else if (e->outcome == VS_UNSENT)
			unsent[nunsent++] = Int64GetDatum(e->summary_id);
		else if (e->outcome == VS_IN_DOUBT)
		{
			doubt[ndoubt] = Int64GetDatum(e->summary_id);
			doubt_users[ndoubt] = Int64GetDatum(e->upsert ? e->point.user_id : 0);
			doubt_nulls[ndoubt] = !e->upsert;
			ndoubt++;
		}
	}

	/*
	 * Completed entries: gone unless changed meanwhile, or unless a write of
	 * theirs in doubt may still be applied after this one (claimed before
	 * in_doubt_until): then they stay pending, due when the fence has
	 * passed, and their desired state is sent once more.
	 */
	if (ndone > 0)
	{
		execute_for_claim(SPI_OK_DELETE_RETURNING, "DELETE FROM osv.vector_outbox o"
						  " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
						  "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)"
						  "   AND o.version OPERATOR(pg_catalog.=) o.claimed_version"
						  "   AND (o.in_doubt_until IS NULL OR o.last_attempt_at OPERATOR(pg_catalog.>=) o.in_doubt_until)"
						  " RETURNING o.summary_id",
						  claim, done, ndone);
		deleted = spi_sorted_int64s(&completed);
		if (completed < (uint64) ndone)
			execute_for_claim(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
							  " SET next_attempt_at = GREATEST(o.next_attempt_at, o.in_doubt_until), attempts = 0"
							  " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
							  "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)"
							  "   AND o.version OPERATOR(pg_catalog.=) o.claimed_version"
							  "   AND o.in_doubt_until OPERATOR(pg_catalog.>) o.last_attempt_at",
							  claim, done, ndone);
	}

	/*
	 * Writes in doubt: Qdrant may still apply them up to the fence from now
	 * (a request reaches Qdrant before osv gives up on it).  Not an attempt
	 * of theirs either.  An upsert in doubt of a user who no longer exists
	 * (an erasure committed while it was in flight) queues the user's sweep
	 * again, due at the fence.
	 */
	if (ndoubt > 0)
	{
		Oid			types[4] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT4OID};
		Datum		values[4];
		int			dims[1] = {ndoubt};
		int			lbs[1] = {1};

		values[0] = claim;
		values[1] = sync_int8_array(doubt, ndoubt);
		values[2] = PointerGetDatum(construct_md_array(doubt_users, doubt_nulls, 1, dims, lbs,
													   INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[3] = Int32GetDatum(osv_vector_sync_in_doubt_fence);
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
					" SET attempts = GREATEST(o.attempts OPERATOR(pg_catalog.-) 1, 0),"
					"     in_doubt_until = GREATEST(o.in_doubt_until, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
					"       pg_catalog.make_interval(secs => $4 OPERATOR(pg_catalog./) 1000.0)),"
					"     in_doubt_user_id = COALESCE(u.user_id, o.in_doubt_user_id)"
					" FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(summary_id, user_id)"
					" WHERE o.claim_id OPERATOR(pg_catalog.=) $1 AND o.summary_id OPERATOR(pg_catalog.=) u.summary_id",
					4, types, values, false, 0);
		sync_requeue_sweeps(values[2]);
	}

	/* Unsent entries (target failure): this was not an attempt of theirs. */
	if (nunsent > 0)
	{
		execute_for_claim(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
						  " SET attempts = GREATEST(o.attempts OPERATOR(pg_catalog.-) 1, 0)"
						  " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
						  "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)"
						  "   AND o.version OPERATOR(pg_catalog.=) o.claimed_version",
						  claim, unsent, nunsent);
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
		spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o SET last_error = $3,"
					" state = CASE WHEN $4 OR o.attempts OPERATOR(pg_catalog.>=) $5 THEN 'failed' ELSE 'pending' END,"
					" next_attempt_at = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>"
					"   LEAST($7::float8, $6 OPERATOR(pg_catalog.*) pg_catalog.power(2, LEAST(o.attempts OPERATOR(pg_catalog.-) 1, 30)))"
					"   OPERATOR(pg_catalog.*) (0.5 OPERATOR(pg_catalog.+) (0.5 OPERATOR(pg_catalog.*) pg_catalog.random())) OPERATOR(pg_catalog./) 1000.0)"
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
			execute_for_claim(SPI_OK_UPDATE, "UPDATE osv.vector_outbox o"
							  " SET claim_id = NULL, claimed_version = NULL, lease_until = NULL"
							  " WHERE o.claim_id OPERATOR(pg_catalog.=) $1"
							  "   AND o.summary_id OPERATOR(pg_catalog.=) ANY ($2)",
							  claim, left, nleft);
	}

	/*
	 * The collection this batch created holds only what the batch completed;
	 * every other live summary goes again.  A summary whose entry is pending
	 * and unclaimed needs nothing: it is sent after the creation anyway, so
	 * it is skipped (a first sync of a backfill would otherwise rewrite the
	 * whole outbox once more: 1.9 s of the worker's 10 s for 100,000
	 * summaries).  Enqueued are the summaries with no entry (completed
	 * before, not by this batch), parked ones, and those claimed by another
	 * batch, which may have gone to the old collection (the version bump
	 * keeps them pending when that batch completes); not the entries this
	 * batch completed (deleted above).  Planned freely (hash joins).
	 */
	AtEOXact_GUC(true, save_nestlevel);

	/*
	 * The target, last: its row is the one every worker of the pool writes,
	 * so its lock is held for as short a time as can be.
	 */
	sync_record_target(batch->target_failed ? &batch->target_error : NULL,
					   batch->any_sent);

	if (batch->resync)
	{
		Oid			argtype = INT8ARRAYOID;
		Datum	   *ids = palloc(sizeof(Datum) * Max(completed, 1));
		Datum		arg;

		for (uint64 i = 0; i < completed; i++)
			ids[i] = Int64GetDatum(deleted[i]);
		arg = sync_int8_array(ids, (int) completed);
		/* Two plain anti-joins, so that both can be hash joins. */
		(void) outbox_enqueue("INSERT INTO osv.vector_outbox AS o (summary_id)"
							  " SELECT s.id FROM osv.summaries s"
							  " WHERE s.deleted_at IS NULL AND (s.embedding IS NOT NULL OR s.embedding_next IS NOT NULL)"
							  " AND NOT EXISTS (SELECT FROM osv.vector_outbox q WHERE q.summary_id OPERATOR(pg_catalog.=) s.id"
							  "   AND q.state OPERATOR(pg_catalog.=) 'pending' AND q.claim_id IS NULL)"
							  " AND NOT EXISTS (SELECT FROM pg_catalog.unnest($1) AS u(id) WHERE u.id OPERATOR(pg_catalog.=) s.id)"
							  OUTBOX_SET_CLAUSE, 1, &argtype, &arg);
	}

	return completed;
}


/* ------------------------------------------------------------------------
 * Erasure sweeps
 * ------------------------------------------------------------------------
 */

/*
 * Claim up to "limit" due erasure sweeps into *sweeps (allocated in mcxt):
 * claim id and lease set, FOR UPDATE SKIP LOCKED, so that concurrent syncs
 * (the worker, osv.vector_sync() in a session) never send the same row at
 * once.  A sweep whose user has an upsert in doubt is first postponed to
 * the end of its fence: sent earlier, the late write could land after it.
 * Nor is a sweep claimed while a claimed outbox entry names its user
 * (claimed_user_id, lease not expired): that batch's upsert may be in
 * flight in another process (the worker, while a session drains), and
 * its record or release completes it or puts the user in doubt first.
 * Both conditions are checked by the claim statement itself, under one
 * snapshot, so that a record committed between the postponement and the
 * claim is seen either as the claim or as the doubt.
 * The claim's id is claim_id, or a new one when it is 0 (the worker
 * claims them under the id of its life, so that its restart releases
 * them).  SPI connected, inside a transaction, which the worker commits
 * before sending.  Returns the number claimed.
 */
int
sync_claim_sweeps(int limit, int64 claim_id, VsSweep **sweeps, MemoryContext mcxt)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];
	bool		isnull;
	int64		claim;
	int			n;
	MemoryContext old;

	*sweeps = NULL;
	reembedding_qdrant_layout();
	spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_erasure_sweeps w SET due_at = d.until"
				" FROM (SELECT o.in_doubt_user_id AS user_id, pg_catalog.max(o.in_doubt_until) AS until"
				"       FROM osv.vector_outbox o"
				"       WHERE o.in_doubt_until IS NOT NULL AND o.in_doubt_user_id IS NOT NULL"
				"         AND o.in_doubt_until OPERATOR(pg_catalog.>) pg_catalog.now()"
				"       GROUP BY o.in_doubt_user_id) d"
				" WHERE w.user_id OPERATOR(pg_catalog.=) d.user_id AND w.due_at OPERATOR(pg_catalog.<) d.until",
				0, NULL, NULL, false, 0);
	claim = claim_id != 0 ? claim_id : sync_new_claim_id();
	values[0] = Int32GetDatum(limit);
	values[1] = Int64GetDatum(claim);
	/* Long enough for every request of the claim; a sweep sent twice is harmless. */
	values[2] = Int64GetDatum((int64) osv_qdrant_timeout * (limit + 1) + 5000);
	spi_execute(SPI_OK_UPDATE_RETURNING, "WITH c AS (SELECT w.user_id FROM osv.vector_erasure_sweeps w"
				"   WHERE w.due_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
				"     AND (w.lease_until IS NULL OR w.lease_until OPERATOR(pg_catalog.<) pg_catalog.now())"
				"     AND NOT EXISTS (SELECT FROM osv.vector_outbox o"
				"       WHERE o.claimed_user_id OPERATOR(pg_catalog.=) w.user_id AND o.claim_id IS NOT NULL"
				"         AND o.lease_until OPERATOR(pg_catalog.>=) pg_catalog.now())"
				"     AND NOT EXISTS (SELECT FROM osv.vector_outbox o"
				"       WHERE o.in_doubt_user_id OPERATOR(pg_catalog.=) w.user_id"
				"         AND o.in_doubt_until OPERATOR(pg_catalog.>) pg_catalog.now())"
				"   ORDER BY w.due_at, w.user_id LIMIT $1 FOR UPDATE SKIP LOCKED)"
				" UPDATE osv.vector_erasure_sweeps w SET claim_id = $2,"
				"   lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $3 OPERATOR(pg_catalog./) 1000.0)"
				" FROM c WHERE w.user_id OPERATOR(pg_catalog.=) c.user_id"
				" RETURNING w.user_id, w.due_at",
				3, types, values, false, 0);
	n = (int) SPI_processed;
	if (n == 0)
		return 0;
	old = MemoryContextSwitchTo(mcxt);
	*sweeps = palloc0(sizeof(VsSweep) * n);
	for (int i = 0; i < n; i++)
	{
		(*sweeps)[i].claim_id = claim;
		(*sweeps)[i].user_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		(*sweeps)[i].due_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	MemoryContextSwitchTo(old);
	return n;
}

/*
 * Delete the points of each sweep's user by user filter.  No SPI, no
 * transaction needed.  Stops at the first failure of the target and
 * returns false with *err filled; a collection that does not exist holds
 * nothing, which is a success.
 */
bool
sync_send_sweeps(VsSweep *sweeps, int n, QdrantError *err)
{
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (qdrant_has_next())
		{
			bool		ok;

			/* The running re-embedding's collection first, then the current one. */
			qdrant_use_next(true);
			ok = qdrant_delete_user(sweeps[i].user_id, err) || err->kind == QDRANT_GONE;
			qdrant_use_next(false);
			if (!ok && err->kind != QDRANT_REJECTED)
			{
				sweeps[i].error = err->message;
				return false;
			}
			if (!ok)
			{
				sweeps[i].error = err->message;
				continue;
			}
		}
		if (qdrant_delete_user(sweeps[i].user_id, err) || err->kind == QDRANT_GONE)
			sweeps[i].done = true;
		else if (err->kind == QDRANT_REJECTED)
			sweeps[i].error = err->message;
		else
		{
			sweeps[i].error = err->message;
			return false;
		}
	}
	return true;
}

/*
 * Record the sweeps claimed (SPI connected): a row is complete when its
 * sweep succeeded and due_at has not moved since the claim (a write of the
 * user went in doubt meanwhile); a failed one keeps its error and is due
 * again after a backoff; the claim of every other row is released.  When
 * a completed row named a receipt, the erasure ledger confirms its Qdrant
 * state (osv.erasure_ledger_refresh()).
 */
void
sync_record_sweeps(VsSweep *sweeps, int n)
{
	bool		confirm = false;

	for (int i = 0; i < n; i++)
	{
		Oid			types[6] = {INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, INT4OID, INT4OID};
		Datum		values[6];

		values[0] = Int64GetDatum(sweeps[i].user_id);
		values[1] = Int64GetDatum(sweeps[i].claim_id);
		values[2] = TimestampTzGetDatum(sweeps[i].due_at);
		if (sweeps[i].done)
		{
			spi_execute(SPI_OK_DELETE_RETURNING, "DELETE FROM osv.vector_erasure_sweeps w"
						" WHERE w.user_id OPERATOR(pg_catalog.=) $1 AND w.claim_id OPERATOR(pg_catalog.=) $2"
						"   AND w.due_at OPERATOR(pg_catalog.=) $3"
						" RETURNING w.receipt IS NOT NULL",
						3, types, values, false, 0);
			if (SPI_processed > 0)
			{
				bool		isnull;

				confirm |= DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				continue;
			}
		}
		if (sweeps[i].error != NULL)
		{
			/* Retried with the backoff of outbox entries. */
			values[3] = CStringGetTextDatum(sweeps[i].error);
			values[4] = Int32GetDatum(osv_vector_sync_backoff);
			values[5] = Int32GetDatum(osv_vector_sync_backoff_max);
			spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_erasure_sweeps w"
						" SET attempts = w.attempts OPERATOR(pg_catalog.+) 1, last_error = $4,"
						"     last_error_at = pg_catalog.now(), claim_id = NULL, lease_until = NULL,"
						"     due_at = GREATEST(w.due_at, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>"
						"       LEAST($6::float8, $5 OPERATOR(pg_catalog.*) pg_catalog.power(2, LEAST(w.attempts, 30))) OPERATOR(pg_catalog./) 1000.0))"
						" WHERE w.user_id OPERATOR(pg_catalog.=) $1 AND w.claim_id OPERATOR(pg_catalog.=) $2",
						6, types, values, false, 0);
		}
		else
			/* Not sent (the target failed first), or done too early. */
			spi_execute(SPI_OK_UPDATE, "UPDATE osv.vector_erasure_sweeps w SET claim_id = NULL, lease_until = NULL"
						" WHERE w.user_id OPERATOR(pg_catalog.=) $1 AND w.claim_id OPERATOR(pg_catalog.=) $2",
						2, types, values, false, 0);
	}
	if (confirm)
		spi_execute(SPI_OK_SELECT, "SELECT osv.erasure_ledger_refresh(NULL)", 0, NULL, NULL, false, 0);
}
