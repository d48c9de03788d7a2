/*-------------------------------------------------------------------------
 *
 * reembedding.c
 *		Versions of the embedding model and of the Qdrant collection.
 *
 * Changing the embedding model without downtime (src/sql/reembedding.sql
 * has the whole design): osv.reembeddings holds one row per re-embedding
 * run; the current collection is the version of the last finished run (1
 * when none finished) and the running one, if any, fills the next.  The
 * active dimension is the last finished run's, or osv.vector_dimensions
 * when none finished: a setting cannot change in the same transaction as
 * the embeddings it describes.
 *
 * Runs in any backend that checks a vector (vector_check.c, embed_text.c,
 * the trigger osv.check_embedding_next()) and in the vector sync worker
 * (sync_engine.c reads the layout at each claim).  reembedding_layout()
 * reads the small table with a heap scan under AccessShareLock and the
 * latest snapshot, with no permission check (search runs as osv_app, who
 * may not read the table), and caches the result for the rest of the
 * command: a new transaction or command (after osv.finish_reembedding()
 * marked its run finished, the summaries' swap checks the new
 * dimension) reads it again.  Outside a transaction, or before ALTER
 * EXTENSION made the table, the layout is version 1 of
 * osv.vector_dimensions with no run.
 *
 * osv.qdrant_switch_alias() (called by osv.finish_reembedding()) does HTTP
 * inside the caller's transaction, which holds the locks of the switch:
 * two or three short requests, see qdrant_switch_alias().
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/reembedding.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "qdrant.h"
#include "reembedding.h"
#include "settings.h"
#include "vector_check.h"

/* The layout read last, and the transaction and command it was read in. */
static ReembeddingLayout cached;
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static CommandId cached_cid = InvalidCommandId;

void
reembedding_layout(ReembeddingLayout *layout)
{
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	CommandId	cid;

	memset(layout, 0, sizeof(*layout));
	layout->cur_version = 1;
	if (!IsTransactionState())
		return;
	cid = GetCurrentCommandId(false);
	if (cached_lxid == MyProc->lxid && cached_cid == cid)
	{
		*layout = cached;
		return;
	}
	nsp = get_namespace_oid("osv", true);
	relid = OidIsValid(nsp) ? get_relname_relid("reembeddings", nsp) : InvalidOid;
	if (OidIsValid(relid))
	{
		rel = table_open(relid, AccessShareLock);

		/*
		 * In parallel mode (a parallel worker, or a leader running a parallel
		 * plan, where the vector checks of PARALLEL SAFE functions run too)
		 * no new snapshot may be taken: the query's then.
		 */
		snapshot = RegisterSnapshot(IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot());
		scan = table_beginscan(rel, snapshot, 0, NULL);
		while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			int			version = DatumGetInt32(heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull));
			int			dims = DatumGetInt32(heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull));

			(void) heap_getattr(tuple, 4, RelationGetDescr(rel), &isnull);
			if (isnull)
			{
				layout->next_version = version;
				layout->next_dims = dims;
			}
			else if (version > layout->cur_version)
			{
				layout->cur_version = version;
				layout->cur_dims = dims;
			}
		}
		table_endscan(scan);
		UnregisterSnapshot(snapshot);
		table_close(rel, AccessShareLock);
	}
	cached = *layout;
	cached_lxid = MyProc->lxid;
	cached_cid = cid;
}

/* Tell qdrant.c which collections the transaction's layout has. */
void
reembedding_qdrant_layout(void)
{
	ReembeddingLayout layout;

	reembedding_layout(&layout);
	qdrant_set_layout(layout.cur_version, layout.cur_dims, layout.next_version, layout.next_dims);
}

/* Dimensions of the current embedding model. */
int
reembedding_dimensions(void)
{
	ReembeddingLayout layout;

	reembedding_layout(&layout);
	return layout.cur_dims > 0 ? layout.cur_dims : osv_vector_dimensions;
}

/*
 * osv.embedding_dimensions() RETURNS integer
 */
PG_FUNCTION_INFO_V1(osv_embedding_dimensions);
Datum
osv_embedding_dimensions(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(reembedding_dimensions());
}

/*
 * osv.check_embedding_next() RETURNS trigger
 *
 * BEFORE INSERT OR UPDATE OF embedding_next FOR EACH ROW on osv.summaries,
 * WHEN the new embedding is not NULL: refuses it while no re-embedding
 * runs, and checks it as osv.check_embedding() checks embedding, with the
 * running re-embedding's dimensions.
 */
PG_FUNCTION_INFO_V1(osv_check_embedding_next);
Datum
osv_check_embedding_next(PG_FUNCTION_ARGS)
{
	Relation	rel;
	HeapTuple	tuple;
	int			attnum;
	bool		isnull;
	Datum		value;
	ReembeddingLayout layout;

	tuple = vector_trigger_column(fcinfo, "osv.check_embedding_next", "embedding_next",
								  &rel, &attnum, &value, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);
	reembedding_layout(&layout);
	if (layout.next_version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no re-embedding is running"),
				 errdetail("embedding_next holds the embedding of a new model while a re-embedding runs."),
				 errhint("Start one with osv.start_reembedding(dimensions), or write the embedding into embedding."),
				 errtablecol(rel, attnum)));
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);
		VectorProblem problem;
		char	   *source = psprintf("re-embedding version %d has", layout.next_version);

		if (vector_problem_dims(arr, VECTOR_EMBEDDING, layout.next_dims, source, &problem, NULL))
			vector_refuse(&problem, rel, attnum);
	}
	return PointerGetDatum(tuple);
}

/*
 * osv.qdrant_switch_alias(version integer) RETURNS void
 *
 * Called by osv.finish_reembedding() after it marked the run finished (so
 * the layout's current version is "version", or an error): points the
 * alias at the new collection and deletes the old one.  Nothing more in
 * the embedded mode.
 */
PG_FUNCTION_INFO_V1(osv_qdrant_switch_alias);
Datum
osv_qdrant_switch_alias(PG_FUNCTION_ARGS)
{
	int32		version = PG_GETARG_INT32(0);
	ReembeddingLayout layout;
	QdrantError err;

	reembedding_layout(&layout);
	if (layout.cur_version != version || layout.cur_dims <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d is not that of the last finished re-embedding", version),
				 layout.cur_dims > 0 ? errdetail("The last finished re-embedding made version %d.", layout.cur_version)
				 : errdetail("No re-embedding has finished."),
				 errhint("osv.finish_reembedding() calls this function.")));
	if (!qdrant_configured())
		PG_RETURN_VOID();
	qdrant_set_layout(layout.cur_version, layout.cur_dims, 0, 0);
	if (!qdrant_switch_alias(version, layout.cur_dims, &err))
		qdrant_raise(ERROR, &err);
	PG_RETURN_VOID();
}
