/*-------------------------------------------------------------------------
 *
 * parallel_scan.c
 *		The exact search's sequential scan shared with parallel workers.
 *
 * The leader is the backend running osv.search_embedded() (exact_scan.c),
 * inside the caller's transaction.  When the scan reads the whole table and
 * the table is large enough (parallel_scan_workers()), it enters parallel
 * mode and starts parallel workers with PostgreSQL's ParallelContext, as
 * nbtsort.c and vacuumparallel.c do.  Each worker is a background process
 * that ParallelWorkerMain() sets up in the leader's transaction: the same
 * snapshot (the leader's active one, which also lets it see the leader's
 * own uncommitted rows), user, GUCs, combo CIDs, lock group (its
 * AccessShareLock on osv.summaries never waits on the leader's) and, under
 * SERIALIZABLE, the leader's serializable transaction, so that predicate
 * locks and conflicts are recorded as for the leader.  Then it runs
 * osv_parallel_scan_main(): it opens the table with AccessShareLock
 * (released when the worker's transaction ends) and scans chunks of pages
 * claimed from a counter in the dynamic shared memory segment until none
 * is left, the leader doing the same meanwhile (unless
 * parallel_leader_participation is off); each worker writes its top
 * k to its own slot of the segment, which the leader merges into its own
 * after all have finished.  The order of hits is total (score, then
 * summary id), so the merged top k is the serial scan's, scores included.
 *
 * An error or cancel in the leader destroys the context at (sub)transaction
 * abort, which terminates the workers and waits for them to exit; an error
 * in a worker is rethrown in the leader.  If no worker can be started, the
 * leader claims every chunk itself.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/parallel_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "storage/bufmgr.h"
#include "storage/lockdefs.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "exact_scan.h"
#include "settings.h"

/* Keys of the shared memory table of contents. */
#define PARALLEL_KEY_SEARCH		UINT64CONST(0x05F0000000000001)
#define PARALLEL_KEY_QUERY		UINT64CONST(0x05F0000000000002)
#define PARALLEL_KEY_TOPIC		UINT64CONST(0x05F0000000000003)
#define PARALLEL_KEY_RESULTS	UINT64CONST(0x05F0000000000004)

/*
 * Pages claimed at a time: at most 64 (512 kB), and few enough that every
 * participant claims about 16 chunks, so that the last chunks, taken by
 * whoever is free, even out participants that run slower (a busy core).
 */
#define PARALLEL_CHUNK_MAX		64
#define PARALLEL_CHUNKS_EACH	16

/* What the participants share, besides the query, topic and results. */
typedef struct ParallelSearch
{
	Oid			relid;
	int			k;
	int			dims;
	double		query_norm;
	SearchFilter filter;		/* topic: under PARALLEL_KEY_TOPIC */
	Size		slot_size;
	SharedBlocks blocks;
} ParallelSearch;

/* One worker's top k, unordered. */
typedef struct ParallelSearchSlot
{
	int			n;
	SearchHit	hits[FLEXIBLE_ARRAY_MEMBER];
} ParallelSearchSlot;

/*
 * How many parallel workers a sequential scan of the table should have, 0
 * for none: the planner's rule for a parallel sequential scan
 * (compute_parallel_worker()): the table's parallel_workers storage
 * parameter if set, else one worker from min_parallel_table_scan_size and
 * one more each time the table triples, at most
 * max_parallel_workers_per_gather and osv.search_parallel_workers (0 by
 * default: on the 2-core VM of bench/search.sh, without huge pages, a
 * parallel search took 2.4 times as long as the serial one even when the
 * machine was idle, so parallel searches are for a DBA to choose after
 * measuring).  And only when it pays, in the
 * planner's units: the part of the serial scan's cost (seq_page_cost a
 * page, cpu_tuple_cost a row) the workers take off the leader (as
 * get_parallel_divisor() shares it) must exceed parallel_setup_cost, the
 * cost of starting them.  None when already in parallel mode (inside a
 * parallel worker, or in a leader running a parallel plan) or in a
 * single-user backend.
 */
int
parallel_scan_workers(Relation rel)
{
	BlockNumber nblocks;
	int			nworkers;
	double		serial_cost;
	double		divisor;

	if (max_parallel_workers_per_gather <= 0 || osv_search_parallel_workers <= 0 ||
		IsInParallelMode() ||
		!IsUnderPostmaster)
		return 0;

	nblocks = RelationGetNumberOfBlocks(rel);
	nworkers = RelationGetParallelWorkers(rel, -1);
	if (nworkers < 0)
	{
		int			threshold = Max(min_parallel_table_scan_size, 1);

		if (nblocks < (BlockNumber) threshold)
			return 0;
		nworkers = 1;
		while (nblocks >= (BlockNumber) threshold * 3)
		{
			nworkers++;
			threshold *= 3;
			if (threshold > INT_MAX / 3)
				break;
		}
	}
	nworkers = Min(nworkers, Min(max_parallel_workers_per_gather, osv_search_parallel_workers));
	if (nworkers <= 0)
		return 0;

	serial_cost = nblocks * seq_page_cost +
		Max(rel->rd_rel->reltuples, 0) * cpu_tuple_cost;
	divisor = nworkers;
	if (parallel_leader_participation && 1.0 - 0.3 * nworkers > 0)
		divisor += 1.0 - 0.3 * nworkers;
	if (serial_cost - serial_cost / divisor <= parallel_setup_cost)
		return 0;
	return nworkers;
}

/* Slot i of the results. */
static inline ParallelSearchSlot *
result_slot(char *results, Size slot_size, int i)
{
	return (ParallelSearchSlot *) (results + slot_size * i);
}

/*
 * Scan osv.summaries (rel, opened by the caller) with up to nworkers
 * parallel workers, the leader taking part; the top k of all ends in st.
 */
void
parallel_scan(SearchScan *st, Relation rel, Snapshot snapshot, int nworkers,
			  const float4 *query, int dims, double query_norm, int k,
			  const SearchFilter *filter)
{
	ParallelContext *pcxt;
	ParallelSearch *shared;
	float4	   *shared_query;
	char	   *results;
	Size		slot_size;
	Size		query_size = mul_size(sizeof(float4), dims);
	Size		topic_size = filter->has_topic ? VARSIZE_ANY(filter->topic) : 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

	slot_size = MAXALIGN(add_size(offsetof(ParallelSearchSlot, hits),
								  mul_size(sizeof(SearchHit), k)));

	EnterParallelMode();
	pcxt = CreateParallelContext("osv", "osv_parallel_scan_main", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(ParallelSearch));
	shm_toc_estimate_chunk(&pcxt->estimator, query_size);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(slot_size, nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 3);
	if (topic_size > 0)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, topic_size);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);

	shared = shm_toc_allocate(pcxt->toc, sizeof(ParallelSearch));
	memset(shared, 0, sizeof(ParallelSearch));
	shared->relid = RelationGetRelid(rel);
	shared->k = k;
	shared->dims = dims;
	shared->query_norm = query_norm;
	shared->filter = *filter;
	shared->filter.topic = NULL;
	shared->slot_size = slot_size;
	pg_atomic_init_u64(&shared->blocks.next, 0);
	shared->blocks.nblocks = nblocks;
	shared->blocks.chunk = Max(1, Min(PARALLEL_CHUNK_MAX,
									  nblocks / ((nworkers + 1) * PARALLEL_CHUNKS_EACH)));
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_SEARCH, shared);

	shared_query = shm_toc_allocate(pcxt->toc, query_size);
	memcpy(shared_query, query, query_size);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_QUERY, shared_query);

	if (topic_size > 0)
	{
		void	   *topic = shm_toc_allocate(pcxt->toc, topic_size);

		memcpy(topic, filter->topic, topic_size);
		shm_toc_insert(pcxt->toc, PARALLEL_KEY_TOPIC, topic);
	}

	results = shm_toc_allocate(pcxt->toc, mul_size(slot_size, nworkers));
	for (int i = 0; i < nworkers; i++)
		result_slot(results, slot_size, i)->n = 0;
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_RESULTS, results);

	/*
	 * The leader scans too, unless parallel_leader_participation is off (as
	 * a Gather's leader) and a worker started; then it takes the chunks left
	 * over once the workers are done, if any.
	 */
	LaunchParallelWorkers(pcxt);
	if (parallel_leader_participation || pcxt->nworkers_launched == 0)
		search_scan_shared(st, rel, snapshot, &shared->blocks);
	WaitForParallelWorkersToFinish(pcxt);
	if (!parallel_leader_participation)
		search_scan_shared(st, rel, snapshot, &shared->blocks);

	for (int i = 0; i < pcxt->nworkers_launched; i++)
	{
		ParallelSearchSlot *slot = result_slot(results, slot_size, i);

		search_scan_offer(st, slot->hits, slot->n);
	}
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

/*
 * The parallel worker's part (called by ParallelWorkerMain(), in the
 * leader's transaction under its active snapshot): scan chunks of the table
 * and leave the top k in this worker's slot.
 */
void
osv_parallel_scan_main(dsm_segment *seg, shm_toc *toc)
{
	ParallelSearch *shared = shm_toc_lookup(toc, PARALLEL_KEY_SEARCH, false);
	float4	   *query = shm_toc_lookup(toc, PARALLEL_KEY_QUERY, false);
	char	   *results = shm_toc_lookup(toc, PARALLEL_KEY_RESULTS, false);
	ParallelSearchSlot *slot = result_slot(results, shared->slot_size, ParallelWorkerNumber);
	SearchFilter filter = shared->filter;
	Relation	rel;
	SearchScan *st;
	SearchHit  *hits;
	int			n;

	if (filter.has_topic)
		filter.topic = shm_toc_lookup(toc, PARALLEL_KEY_TOPIC, false);

	rel = table_open(shared->relid, AccessShareLock);
	st = search_scan_begin(rel, query, shared->dims, shared->query_norm,
						   shared->k, &filter);
	search_scan_shared(st, rel, GetActiveSnapshot(), &shared->blocks);
	n = search_scan_end(st, &hits);
	memcpy(slot->hits, hits, sizeof(SearchHit) * n);
	slot->n = n;
	table_close(rel, AccessShareLock);
}
