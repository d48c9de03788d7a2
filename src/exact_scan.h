/*-------------------------------------------------------------------------
 *
 * exact_scan.h
 *		The exact cosine top-k scan of the embedded mode (exact_scan.c) and
 *		its parallel form (parallel_scan.c).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/exact_scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_EXACT_SCAN_H
#define OSV_EXACT_SCAN_H

#include "port/atomics.h"
#include "storage/block.h"
#include "storage/dsm.h"
#include "storage/shm_toc.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* One search result. */
typedef struct SearchHit
{
	float4		score;
	int64		summary_id;
} SearchHit;

/* Filters of one search; a NULL-valued filter is represented by has_* false. */
typedef struct SearchFilter
{
	bool		has_user_id;
	int64		user_id;
	bool		has_topic;
	text	   *topic;
	bool		has_exclude_summary_id;
	int64		exclude_summary_id;
	bool		has_exclude_user_id;
	int64		exclude_user_id;
} SearchFilter;

/*
 * The pages of a sequential scan shared by the participants of a parallel
 * one (in dynamic shared memory): each claims the next "chunk" pages from
 * "next" when done with its last.
 */
typedef struct SharedBlocks
{
	pg_atomic_uint64 next;
	BlockNumber nblocks;
	uint32		chunk;
} SharedBlocks;

typedef struct SearchScan SearchScan;

/* exact_scan.c */
extern SearchScan *search_scan_begin(Relation rel, const float4 *query, int dims,
									 double query_norm, int k,
									 const SearchFilter *filter);
extern void search_scan_shared(SearchScan *st, Relation rel, Snapshot snapshot,
							   SharedBlocks *shared);
extern void search_scan_offer(SearchScan *st, const SearchHit *hits, int n);
extern int	search_scan_end(SearchScan *st, SearchHit **hits);

/* parallel_scan.c */
extern int	parallel_scan_workers(Relation rel);
extern void parallel_scan(SearchScan *st, Relation rel, Snapshot snapshot,
						  int nworkers, const float4 *query, int dims,
						  double query_norm, int k, const SearchFilter *filter);
PGDLLEXPORT void osv_parallel_scan_main(dsm_segment *seg, shm_toc *toc);

#endif							/* OSV_EXACT_SCAN_H */
