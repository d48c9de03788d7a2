/*-------------------------------------------------------------------------
 *
 * exact_scan.c
 *		The exact cosine top-k search of the embedded mode.
 *
 * osv.search_embedded() runs in the backend of the calling session,
 * inside the caller's transaction, under the active snapshot.  It scans
 * osv.summaries sequentially, or, with a user or topic filter, only the
 * pages an index whose first column is user_id or topic points to (when
 * they are at most a quarter of the table), holding AccessShareLock on the
 * table and the index until the end of the transaction, and under
 * SERIALIZABLE a predicate lock on the table (or on the pages read).  It
 * reads the embedding in place in the shared buffer whenever the array is
 * stored inline and uncompressed (src/sql/search.sql sets the column's
 * storage to MAIN so that it is, at 384 dimensions), finds it at offsets
 * known in advance from the table's layout (deform_summary()), computes dot
 * product and norm in one pass with the kernel chosen for the CPU
 * (vector_kernel.c: AVX2 where available, identical results), and keeps
 * the best k rows in a bounded heap.  Only live summaries count:
 * deleted_at IS NULL on the summary is enough, since the soft-delete
 * invariant (src/sql/core.sql) keeps live summaries under live documents
 * and users.  As it bypasses the executor, it checks the
 * caller's SELECT privilege on osv.summaries itself and refuses to run
 * when row-level security applies to the caller.
 *
 * A sequential scan of a large enough table is shared with parallel
 * workers when osv.search_parallel_workers (0 by default) and
 * max_parallel_workers_per_gather allow and the planner's
 * costs say it pays (parallel_scan.c): the pages are handed out in chunks, each participant
 * keeps its own top k, and the leader merges them into the serial scan's
 * result.
 *
 * The sequential scan is our own page loop (scan_heap()) rather than
 * table_beginscan()/heap_getnextslot(): it reads pages ahead, keeps the
 * table in shared buffers, and pins pages through the buffers where this
 * backend last found them (ReadRecentBuffer(), BufferHints) rather than
 * through the buffer-mapping table.  Measured by bench/scan_loop.sh (100,000 live
 * rows of 384 dimensions in shared buffers, exact top 10, 180 queries per
 * loop in alternating rounds, 2-core machine shared with other work): the
 * table-AM loop took 1.88x the time of ours at the median (179.7 ms
 * against 95.8 ms) and 1.71x at the best query (53.0 ms against 31.1 ms),
 * with identical results.  It is kept for that reason; the table-AM loop
 * stays in the file for the benchmark only (-DOSV_BENCH_SCAN_LOOP).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/exact_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "exact_scan.h"
#include "settings.h"
#include "vector_check.h"
#include "vector_kernel.h"

/* The best k hits seen so far: a binary heap whose root is the worst. */
typedef struct TopK
{
	int			k;
	int			n;
	SearchHit  *hits;
} TopK;

/* Attribute numbers (1-based) of the columns of osv.summaries we read. */
typedef struct SummaryColumns
{
	AttrNumber	id;
	AttrNumber	user_id;
	AttrNumber	topic;
	AttrNumber	embedding;
	AttrNumber	deleted_at;
	AttrNumber	last;			/* highest of the columns we deform */
} SummaryColumns;

/* ------------------------------------------------------------------------
 * The exact top-k scan
 * ------------------------------------------------------------------------
 */

/* Whether hit a ranks before hit b: higher score, then lower summary id. */
static inline bool
hit_better(float4 score_a, int64 id_a, const SearchHit *b)
{
	return score_a > b->score || (score_a == b->score && id_a < b->summary_id);
}

static void
topk_sift_down(TopK *top, int i)
{
	SearchHit  *h = top->hits;

	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			worst = i;

		if (l < top->n && hit_better(h[worst].score, h[worst].summary_id, &h[l]))
			worst = l;
		if (r < top->n && hit_better(h[worst].score, h[worst].summary_id, &h[r]))
			worst = r;
		if (worst == i)
			break;
		{
			SearchHit	tmp = h[i];

			h[i] = h[worst];
			h[worst] = tmp;
		}
		i = worst;
	}
}

/* Offer a hit to the top k; the caller has checked it beats the root if full. */
static void
topk_add(TopK *top, float4 score, int64 summary_id)
{
	SearchHit  *h = top->hits;

	if (top->n < top->k)
	{
		int			i = top->n++;
		SearchHit	hit;

		hit.score = score;
		hit.summary_id = summary_id;

		/* Sift up: parents that rank better than the new hit move down. */
		while (i > 0)
		{
			int			parent = (i - 1) / 2;

			if (!hit_better(h[parent].score, h[parent].summary_id, &hit))
				break;
			h[i] = h[parent];
			i = parent;
		}
		h[i].score = score;
		h[i].summary_id = summary_id;
	}
	else
	{
		h[0].score = score;
		h[0].summary_id = summary_id;
		topk_sift_down(top, 0);
	}
}

/* Whether a hit would enter the top k. */
static inline bool
topk_wants(const TopK *top, float4 score, int64 summary_id)
{
	return top->n < top->k || hit_better(score, summary_id, &top->hits[0]);
}

/*
 * Whether a row of cosine dot / sqrt(norms) is sure to stay out of a full
 * top k: a cheaper test than the square root and division of its score.
 * Only when the cosine is below the worst score kept by more than
 * TOPK_BAR_MARGIN, far more than the rounding error of these doubles
 * (about 1e-15 relative) and than the spacing of float4 scores near 1
 * (6e-8): the row's float4 score is then below the worst one, so the
 * result stays the same, scores and order included.  norms (the product
 * of the squared norms of query and row) is positive and finite, dot
 * finite.
 */
#define TOPK_BAR_MARGIN 1e-6

static inline bool
topk_below_bar(const TopK *top, double dot, double norms)
{
	double		bar;

	if (top->n < top->k)
		return false;
	bar = (double) top->hits[0].score - TOPK_BAR_MARGIN;
	/* cosine < bar, for bar > 0, squared: dot^2 < bar^2 * norms */
	return bar > 0.0 && (dot <= 0.0 || dot * dot < bar * bar * norms);
}

static int
hit_cmp(const void *a, const void *b)
{
	const SearchHit *x = (const SearchHit *) a;
	const SearchHit *y = (const SearchHit *) b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->summary_id != y->summary_id)
		return x->summary_id < y->summary_id ? -1 : 1;
	return 0;
}

/* Attribute number of a column of osv.summaries with the given type. */
static AttrNumber
summaries_column(Relation rel, const char *name, Oid type)
{
	int			attno = SPI_fnumber(RelationGetDescr(rel), name);

	if (attno <= 0 || TupleDescAttr(RelationGetDescr(rel), attno - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"osv.summaries\" has no column \"%s\" of type %s",
						name, format_type_be(type))));
	return (AttrNumber) attno;
}

/*
 * Deform the first "natts" attributes of a heap tuple: heap_deform_tuple()
 * without the trailing columns (content, timestamps) we never look at.
 * Datums of by-reference types point into the tuple.
 */
static void
deform_prefix(HeapTuple tuple, TupleDesc desc, int natts,
			  Datum *values, bool *isnull)
{
	HeapTupleHeader tup = tuple->t_data;
	bool		hasnulls = HeapTupleHasNulls(tuple);
	int			tup_natts = HeapTupleHeaderGetNatts(tup);
	char	   *tp = (char *) tup + tup->t_hoff;
	bits8	   *bp = tup->t_bits;
	uint32		off = 0;

	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (i >= tup_natts)
		{
			values[i] = getmissingattr(desc, i + 1, &isnull[i]);
			continue;
		}
		if (hasnulls && att_isnull(i, bp))
		{
			values[i] = (Datum) 0;
			isnull[i] = true;
			continue;
		}
		isnull[i] = false;
		if (att->attlen == -1)
			off = att_align_pointer(off, att->attalign, -1, tp + off);
		else
			off = att_align_nominal(off, att->attalign);
		values[i] = fetchatt(att, tp + off);
		off = att_addlength_pointer(off, att->attlen, tp + off);
	}
}

/*
 * The layout of osv.summaries since 1.0: id, document_id, user_id (bigint,
 * NOT NULL), topic, content (text), embedding (real[]), then columns the
 * scan does not read.  search_embedded() checks the table still has it
 * (summary_layout_is_fixed()); the scan then deforms a tuple's first six
 * attributes with the offsets and alignments known in advance
 * (deform_summary()), rather than through the tuple descriptor.
 */
#define SUMMARY_FIXED_NATTS 6

static bool
summary_layout_is_fixed(TupleDesc desc, const SummaryColumns *c)
{
	static const Oid types[SUMMARY_FIXED_NATTS] =
	{INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, FLOAT4ARRAYOID};

	if (desc->natts < SUMMARY_FIXED_NATTS || c->id != 1 || c->user_id != 3 ||
		c->topic != 4 || c->embedding != 6 || c->last != SUMMARY_FIXED_NATTS)
		return false;
	for (int i = 0; i < SUMMARY_FIXED_NATTS; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i] ||
			att->attlen != (i < 3 ? 8 : -1) ||
			att->attalign != (i < 3 ? TYPALIGN_DOUBLE : TYPALIGN_INT))
			return false;
	}
	return true;
}

/*
 * deform_prefix() of the first six attributes of a tuple of the fixed
 * layout; false (and nothing done) when the tuple has fewer attributes or a
 * NULL among the first three, which deform_prefix() then handles.
 */
static inline bool
deform_summary(HeapTuple tuple, Datum *values, bool *isnull)
{
	HeapTupleHeader tup = tuple->t_data;
	bool		hasnulls = HeapTupleHasNulls(tuple);
	char	   *tp = (char *) tup + tup->t_hoff;
	bits8	   *bp = tup->t_bits;
	uint32		off = 3 * sizeof(int64);

	if (HeapTupleHeaderGetNatts(tup) < SUMMARY_FIXED_NATTS ||
		(hasnulls && (att_isnull(0, bp) || att_isnull(1, bp) || att_isnull(2, bp))))
		return false;
	for (int i = 0; i < 3; i++)
	{
		values[i] = Int64GetDatum(*(int64 *) (tp + i * sizeof(int64)));
		isnull[i] = false;
	}
	for (int i = 3; i < SUMMARY_FIXED_NATTS; i++)
	{
		if (hasnulls && att_isnull(i, bp))
		{
			values[i] = (Datum) 0;
			isnull[i] = true;
			continue;
		}
		isnull[i] = false;
		off = att_align_pointer(off, TYPALIGN_INT, -1, tp + off);
		values[i] = PointerGetDatum(tp + off);
		off = att_addlength_pointer(off, -1, tp + off);
	}
	return true;
}

/* Whether attribute attno (1-based) of the tuple is NULL, without deforming. */
static inline bool
tuple_attr_isnull(HeapTuple tuple, AttrNumber attno)
{
	if (attno > HeapTupleHeaderGetNatts(tuple->t_data))
		return true;			/* added later with no default: NULL */
	return HeapTupleHasNulls(tuple) && att_isnull(attno - 1, tuple->t_data->t_bits);
}

/*
 * Ask the CPU to start loading a whole page.  The scan
 * reads a page's tuples one after another, each a separate run of cache
 * lines (and in decreasing address order), which the hardware prefetchers
 * pick up late; asking for the whole page at once turns a chain of cache
 * misses into one burst of parallel loads.
 */
static inline void
prefetch_page(Page page)
{
#if defined(__GNUC__) || defined(__clang__)
	/*
	 * The whole page, free space included: reading pd_upper to skip the free
	 * space would wait for that cache line first.  Backwards, since the
	 * scan's first tuples lie at the end of the page.
	 */
	for (int off = BLCKSZ - 64; off >= 0; off -= 64)
		__builtin_prefetch((char *) page + off);
#endif
}

/*
 * Where this backend last found the table's pages in shared buffers: for
 * each block, the buffer that held it (InvalidBuffer if unknown), a hint
 * for ReadRecentBuffer(), which pins that buffer if it still holds the
 * block (it checks the buffer's tag under the buffer header lock, so a
 * stale hint is only a miss) without the buffer-mapping lookup of
 * ReadBuffer(): a hash probe into a table as large as shared buffers, under
 * a partition lock, whose cache misses took about a third of a search over
 * 100,000 rows held in shared buffers ("perf", bench/README.md).  It lives
 * as long as the backend, in TopMemoryContext, for one relfilenode (a
 * rewrite of the table starts it afresh), at most HINT_MAX_BLOCKS blocks
 * (4 bytes each; blocks beyond go through ReadBuffer()).
 *
 * A pin taken by ReadRecentBuffer() leaves the buffer's usage count alone,
 * where ReadBuffer() raises it: a table read only through hints would look
 * unused to the clock sweep that chooses buffers to evict.  So every
 * HINT_FULL_READS-th page (a different residue each scan) is read through
 * ReadBuffer() anyway, which raises its usage count as any scan does.
 */
#define HINT_MAX_BLOCKS (1 << 22)	/* 32 GB of table, 16 MB of hints */
#define HINT_FULL_READS 16

typedef struct BufferHints
{
	RelFileNode node;
	BlockNumber size;			/* blocks with a slot in buffers */
	Buffer	   *buffers;
	uint32		scans;			/* scans started, for the full reads' residue */
} BufferHints;

static BufferHints hints;

/* The hints for rel, with a slot for each of its first nblocks blocks. */
static void
hints_prepare(Relation rel, BlockNumber nblocks)
{
	nblocks = Min(nblocks, HINT_MAX_BLOCKS);
	if (hints.buffers != NULL && !RelFileNodeEquals(hints.node, rel->rd_node))
	{
		pfree(hints.buffers);
		hints.buffers = NULL;
		hints.size = 0;
	}
	if (nblocks > hints.size)
	{
		/* grow by half again at least, as a table grows */
		BlockNumber size = Min(HINT_MAX_BLOCKS, Max(nblocks, hints.size + hints.size / 2));

		if (hints.buffers == NULL)
			hints.buffers = MemoryContextAllocZero(TopMemoryContext, sizeof(Buffer) * size);
		else
		{
			hints.buffers = repalloc(hints.buffers, sizeof(Buffer) * size);
			memset(hints.buffers + hints.size, 0, sizeof(Buffer) * (size - hints.size));
		}
		hints.size = size;
	}
	hints.node = rel->rd_node;
	hints.scans++;
}

/* The hinted buffer of block blk, InvalidBuffer if none. */
static inline Buffer
hint_of(BlockNumber blk)
{
	return blk < hints.size ? hints.buffers[blk] : InvalidBuffer;
}

/*
 * Pin block blk of rel (a heap's main fork, in shared buffers), through
 * its hint when that still holds, else through ReadBuffer(), counted in
 * the table's statistics either way.
 */
static inline Buffer
read_page(Relation rel, BlockNumber blk)
{
	Buffer		hint = hint_of(blk);
	Buffer		buf;

	if (BufferIsValid(hint) && (blk + hints.scans) % HINT_FULL_READS != 0 &&
		ReadRecentBuffer(rel->rd_node, MAIN_FORKNUM, blk, hint))
	{
		pgstat_count_buffer_read(rel);
		pgstat_count_buffer_hit(rel);
		return hint;
	}
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, NULL);
	if (blk < hints.size && !BufferIsLocal(buf))
		hints.buffers[blk] = buf;
	return buf;
}

/*
 * Ask the CPU to load the buffer header a hint names, for write
 * (ReadRecentBuffer() locks it), so that pinning the page finds it in the
 * cache.  Harmless if the hint is stale: descriptors never move.
 */
static inline void
prefetch_hint_header(BlockNumber blk)
{
#if defined(__GNUC__) || defined(__clang__)
	Buffer		hint = hint_of(blk);

	if (BufferIsValid(hint))
		__builtin_prefetch(GetBufferDescriptor(hint - 1), 1);
#endif
}

/* State of one scan, shared by the sequential and the index path. */
struct SearchScan
{
	TupleDesc	desc;
	SummaryColumns cols;
	bool		fixed_layout;	/* summary_layout_is_fixed() */
	const SearchFilter *filter;
	const float4 *query;
	int			dims;
	double		query_norm;		/* squared */
	vector_dot_norm_fn dot_norm;	/* the kernel (vector_kernel.c) */
	Datum	   *values;
	bool	   *isnull;
	MemoryContext row_context;	/* holds detoasted copies, reset per row */
	TopK		top;
};

/* Score one heap tuple and offer it to the top k. */
static inline void
scan_tuple(SearchScan *st, HeapTuple tuple)
{
	const SummaryColumns *c = &st->cols;
	const SearchFilter *f = st->filter;
	struct varlena *raw;
	ArrayType  *arr;
	bool		copied = false;
	int64		id;
	double		dot;
	double		norm;
	float4		score;

	/* Cheap tests first: trashed rows and rows without embedding. */
	if (!tuple_attr_isnull(tuple, c->deleted_at) ||
		tuple_attr_isnull(tuple, c->embedding))
		return;

	if (!st->fixed_layout || !deform_summary(tuple, st->values, st->isnull))
		deform_prefix(tuple, st->desc, c->last, st->values, st->isnull);
	id = DatumGetInt64(st->values[c->id - 1]);

	if (f->has_user_id &&
		(st->isnull[c->user_id - 1] || DatumGetInt64(st->values[c->user_id - 1]) != f->user_id))
		return;
	if (f->has_exclude_user_id && !st->isnull[c->user_id - 1] &&
		DatumGetInt64(st->values[c->user_id - 1]) == f->exclude_user_id)
		return;
	if (f->has_exclude_summary_id && id == f->exclude_summary_id)
		return;
	if (f->has_topic)
	{
		struct varlena *t;

		if (st->isnull[c->topic - 1])
			return;
		t = (struct varlena *) DatumGetPointer(st->values[c->topic - 1]);
		if (VARATT_IS_EXTERNAL(t) || VARATT_IS_COMPRESSED(t))
		{
			MemoryContext old = MemoryContextSwitchTo(st->row_context);

			t = pg_detoast_datum_packed(t);
			MemoryContextSwitchTo(old);
			copied = true;
		}
		if (VARSIZE_ANY_EXHDR(t) != VARSIZE_ANY_EXHDR(f->topic) ||
			memcmp(VARDATA_ANY(t), VARDATA_ANY(f->topic), VARSIZE_ANY_EXHDR(t)) != 0)
		{
			if (copied)
				MemoryContextReset(st->row_context);
			return;
		}
	}

	/*
	 * The embedding: read in place when inline and uncompressed (the common
	 * case), else detoasted into the row context.
	 */
	raw = (struct varlena *) DatumGetPointer(st->values[c->embedding - 1]);
	if (VARATT_IS_EXTENDED(raw))
	{
		MemoryContext old = MemoryContextSwitchTo(st->row_context);

		raw = pg_detoast_datum(raw);
		MemoryContextSwitchTo(old);
		copied = true;
	}
	arr = (ArrayType *) raw;

	/*
	 * Rows the trigger would refuse cannot be compared; they exist only if
	 * osv.vector_dimensions changed since they were written, or the trigger
	 * was disabled.  They are not searchable until rewritten.
	 */
	if (ARR_NDIM(arr) == 1 && !ARR_HASNULL(arr) &&
		ARR_ELEMTYPE(arr) == FLOAT4OID && ARR_DIMS(arr)[0] == st->dims)
	{
		st->dot_norm(st->query, (const float4 *) ARR_DATA_PTR(arr), st->dims,
					 &dot, &norm);

		/*
		 * Rows written before the magnitude limit of vector_check.c may
		 * overflow the single-precision accumulators: an infinite dot product
		 * would be clamped to a score of 1.  Skip them.
		 */
		if (norm > 0.0 && !isinf(norm) && !isinf(dot) &&
			!topk_below_bar(&st->top, dot, st->query_norm * norm))
		{
			double		cosine = dot / sqrt(st->query_norm * norm);

			if (!isnan(cosine))
			{
				/* Rounding may step just outside [-1, 1]. */
				cosine = Max(-1.0, Min(1.0, cosine));
				score = (float4) cosine;
				if (topk_wants(&st->top, score, id))
					topk_add(&st->top, score, id);
			}
		}
	}
	if (copied)
		MemoryContextReset(st->row_context);
}

/*
 * Read every tuple of the table visible to the snapshot and score it: a
 * sequential scan like heapgettup_pagemode(), with differences that make
 * it several times as fast on a table held in shared buffers.  It pins
 * the page SCAN_LOOKAHEAD pages ahead and asks the CPU to load it
 * (prefetch_page()) while it scores the current one, so that memory loads
 * overlap computation instead of stalling it; where the hints (BufferHints)
 * know the buffer of the page after that, it starts loading that page too,
 * and the buffer header of the next.  It pins through those hints, without
 * the buffer-mapping lookup (read_page()).  A row whose score cannot enter
 * the top k is dropped before its square root and division
 * (topk_below_bar()).  And it uses no bulk-read
 * buffer ring: searches read the whole table again and again, so it should
 * stay in shared buffers (size shared_buffers for it), where a ring would
 * send every search to the kernel's page cache once the table exceeds a
 * quarter of shared_buffers.  It does not prune pages (searches only read).
 *
 * Visibility is decided under the page's share lock, as heapam does, and
 * the tuples are scored afterwards under the pin alone, which keeps them in
 * place.  Under SERIALIZABLE the relation is predicate-locked as a whole,
 * as a sequential scan does.
 *
 * With "blocks" (ascending block numbers, from index_blocks()) it reads
 * only those pages, each in full: every visible tuple of the page is
 * scored against the filter, so the pages found through an index need no
 * recheck of HOT chains or of stale index entries.  Under SERIALIZABLE
 * each page read is then predicate-locked (and the index's pages were, by
 * the index scan), as a bitmap heap scan does.
 */
#define SCAN_LOOKAHEAD 2

/*
 * The pages a scan reads, in order: a list (the index path), the whole
 * table, or, in a parallel scan, chunks of the table claimed one after the
 * other from the counter all participants share.
 */
typedef struct BlockSource
{
	const BlockNumber *blocks;	/* the list, or NULL */
	BlockNumber nblocks;		/* the list's length or the table's pages */
	BlockNumber pos;			/* the next page, or its index in the list */
	SharedBlocks *shared;		/* the parallel scan's counter, or NULL */
	BlockNumber chunk_end;		/* end of the chunk claimed last */
} BlockSource;

/* The next page to read, InvalidBlockNumber when there is none. */
static inline BlockNumber
next_block(BlockSource *src)
{
	if (src->shared != NULL)
	{
		if (src->pos >= src->chunk_end)
		{
			SharedBlocks *shared = src->shared;
			uint64		first = pg_atomic_fetch_add_u64(&shared->next, shared->chunk);

			if (first >= shared->nblocks)
				return InvalidBlockNumber;
			src->pos = (BlockNumber) first;
			src->chunk_end = (BlockNumber) Min(first + shared->chunk, shared->nblocks);
		}
		return src->pos++;
	}
	if (src->pos >= src->nblocks)
		return InvalidBlockNumber;
	return src->blocks ? src->blocks[src->pos++] : src->pos++;
}

/*
 * The page next_block() will return after the next i (0: the next one),
 * if known without claiming anything; else InvalidBlockNumber.
 */
static inline BlockNumber
peek_block(const BlockSource *src, BlockNumber i)
{
	BlockNumber end = src->shared ? src->chunk_end : src->nblocks;

	if (src->pos + i >= end)
		return InvalidBlockNumber;
	return src->blocks ? src->blocks[src->pos + i] : src->pos + i;
}

static void
scan_heap(SearchScan *st, Relation rel, Snapshot snapshot, BlockSource *src)
{
	Buffer		ring[SCAN_LOOKAHEAD + 1];
	BlockNumber ring_blocks[SCAN_LOOKAHEAD + 1];
	int			head = 0;
	int			pinned = 0;
	bool		exhausted = false;
	HeapTupleData *tuples = palloc(sizeof(HeapTupleData) * MaxHeapTuplesPerPage);

	if (src->blocks == NULL)
		PredicateLockRelation(rel, snapshot);
	/* slots up to the last page to read (a list is ascending) */
	if (src->shared != NULL)
		hints_prepare(rel, src->shared->nblocks);
	else if (src->blocks != NULL)
		hints_prepare(rel, src->nblocks > 0 ? src->blocks[src->nblocks - 1] + 1 : 0);
	else
		hints_prepare(rel, src->nblocks);

	for (;;)
	{
		BlockNumber blk;
		Buffer		buf;
		Page		page;
		bool		all_visible;
		bool		check_serializable;
		OffsetNumber maxoff;
		int			ntuples = 0;

		CHECK_FOR_INTERRUPTS();

		/*
		 * Keep SCAN_LOOKAHEAD pages pinned and loading beyond the one to
		 * score now.
		 */
		while (!exhausted && pinned <= SCAN_LOOKAHEAD)
		{
			BlockNumber ahead_blk = next_block(src);
			Buffer		ahead;
			Buffer		after;

			if (ahead_blk == InvalidBlockNumber)
			{
				exhausted = true;
				break;
			}
			ahead = read_page(rel, ahead_blk);
			prefetch_page(BufferGetPage(ahead));

			/*
			 * Where hints say where the next pages lie, start loading the
			 * page after this one already, and the header of the one after
			 * that.
			 */
			after = hint_of(peek_block(src, 0));
			if (BufferIsValid(after))
				prefetch_page(BufferGetPage(after));
			prefetch_hint_header(peek_block(src, 1));
			ring[(head + pinned) % (SCAN_LOOKAHEAD + 1)] = ahead;
			ring_blocks[(head + pinned) % (SCAN_LOOKAHEAD + 1)] = ahead_blk;
			pinned++;
		}
		if (pinned == 0)
			break;

		/* Now score the oldest page pinned. */
		buf = ring[head];
		blk = ring_blocks[head];
		head = (head + 1) % (SCAN_LOOKAHEAD + 1);
		pinned--;
		if (src->blocks != NULL)
			PredicateLockPage(rel, blk, snapshot);
		page = BufferGetPage(buf);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		all_visible = PageIsAllVisible(page) && !snapshot->takenDuringRecovery;
		check_serializable = CheckForSerializableConflictOutNeeded(rel, snapshot);
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTuple	tuple = &tuples[ntuples];
			bool		valid;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple->t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple->t_len = ItemIdGetLength(lp);
			tuple->t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple->t_self, blk, off);
			valid = all_visible || HeapTupleSatisfiesVisibility(tuple, snapshot, buf);
			if (check_serializable)
				HeapCheckForSerializableConflictOut(valid, rel, tuple, buf, snapshot);
			if (valid)
				ntuples++;
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);

		for (int j = ntuples - 1; j >= 0; j--)
			scan_tuple(st, &tuples[j]);
		ReleaseBuffer(buf);
	}
	pfree(tuples);
}

/*
 * One participant's part of a parallel sequential scan (parallel_scan.c):
 * the chunks of pages it claims from "shared" until none is left.  Every
 * participant predicate-locks the relation, as a parallel heap scan does.
 */
void
search_scan_shared(SearchScan *st, Relation rel, Snapshot snapshot,
				   SharedBlocks *shared)
{
	BlockSource src;

	memset(&src, 0, sizeof(src));
	src.shared = shared;
	scan_heap(st, rel, snapshot, &src);
}

#ifdef OSV_BENCH_SCAN_LOOP
/*
 * For bench/scan_loop.sh only (a build with -DOSV_BENCH_SCAN_LOOP): the
 * same scan through the table AM, table_beginscan()/heap_getnextslot(),
 * chosen by SET osv_bench.scan_loop = 'tableam'.
 */
static bool
bench_scan_tableam(void)
{
	const char *value = GetConfigOption("osv_bench.scan_loop", true, false);

	return value != NULL && strcmp(value, "tableam") == 0;
}

static void
scan_heap_tableam(SearchScan *st, Relation rel, Snapshot snapshot)
{
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		should_free;
		HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &should_free);

		CHECK_FOR_INTERRUPTS();
		scan_tuple(st, tuple);
		if (should_free)
			heap_freetuple(tuple);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
}
#endif

/*
 * An index of osv.summaries usable for a filter on column attno: a valid,
 * non-partial btree index whose first key column it is.  InvalidOid if
 * none.  The index found stays locked (AccessShareLock) until the end of the
 * transaction.
 */
static Oid
first_key_index(Relation rel, AttrNumber attno)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	index = index_open(indexoid, AccessShareLock);
		bool		usable;

		usable = index->rd_rel->relam == BTREE_AM_OID &&
			index->rd_index->indisvalid &&
			index->rd_index->indnkeyatts >= 1 &&
			index->rd_index->indkey.values[0] == attno &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL);
		index_close(index, usable ? NoLock : AccessShareLock);
		if (usable)
		{
			result = indexoid;
			break;
		}
	}
	list_free(indexes);
	return result;
}

static int
block_cmp(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return x < y ? -1 : x > y;
}

/*
 * The pages holding the rows whose first key column of the index equals
 * value (compared by proc, with the index's collation), ascending, without
 * duplicates; their number in *nblocks.  NULL when they are more than
 * max_blocks: then reading the whole table in order costs about as much
 * (INDEX_MAX_FRACTION).  The entries are read, not checked: the scan reads
 * each page in full and filters every visible tuple itself.
 */
#define INDEX_MAX_FRACTION 4	/* at most a quarter of the table's pages */

static BlockNumber *
index_blocks(Relation rel, Oid indexoid, RegProcedure proc, Datum value,
			 Snapshot snapshot, uint32 max_blocks, uint32 *nblocks)
{
	Relation	index = index_open(indexoid, NoLock);
	IndexScanDesc scan;
	ScanKeyData key;
	ItemPointer tid;
	uint32		n = 0;
	uint32		size = 64;
	BlockNumber *blocks = palloc(sizeof(BlockNumber) * size);
	bool		too_many = false;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], proc, value);
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		BlockNumber blk = ItemPointerGetBlockNumber(tid);

		CHECK_FOR_INTERRUPTS();
		/* Equal keys come in heap order: most duplicates are adjacent. */
		if (n > 0 && blocks[n - 1] == blk)
			continue;
		if (n >= max_blocks)
		{
			too_many = true;
			break;
		}
		if (n == size)
		{
			size *= 2;
			blocks = repalloc(blocks, sizeof(BlockNumber) * size);
		}
		blocks[n++] = blk;
	}
	index_endscan(scan);
	index_close(index, NoLock);
	if (too_many)
	{
		pfree(blocks);
		return NULL;
	}
	qsort(blocks, n, sizeof(BlockNumber), block_cmp);
	*nblocks = qunique(blocks, n, sizeof(BlockNumber), block_cmp);
	return blocks;
}

/*
 * The state of a scan of osv.summaries (opened and checked by the caller)
 * for the top k rows matching "filter", in the current memory context.
 */
SearchScan *
search_scan_begin(Relation rel, const float4 *query, int dims, double query_norm,
				  int k, const SearchFilter *filter)
{
	SearchScan *st = palloc0(sizeof(SearchScan));

	st->desc = RelationGetDescr(rel);
	st->cols.id = summaries_column(rel, "id", INT8OID);
	st->cols.user_id = summaries_column(rel, "user_id", INT8OID);
	st->cols.topic = summaries_column(rel, "topic", TEXTOID);
	st->cols.embedding = summaries_column(rel, "embedding", FLOAT4ARRAYOID);
	st->cols.deleted_at = summaries_column(rel, "deleted_at", TIMESTAMPTZOID);
	st->cols.last = Max(Max(st->cols.id, st->cols.user_id),
						Max(st->cols.topic, st->cols.embedding));
	st->fixed_layout = summary_layout_is_fixed(st->desc, &st->cols);
	st->filter = filter;
	st->query = query;
	st->dims = dims;
	st->query_norm = query_norm;
	st->dot_norm = vector_dot_norm_kernel();
	st->values = palloc(sizeof(Datum) * st->cols.last);
	st->isnull = palloc(sizeof(bool) * st->cols.last);
	st->row_context = AllocSetContextCreate(CurrentMemoryContext,
											"osv search row",
											ALLOCSET_SMALL_SIZES);
	st->top.k = k;
	st->top.n = 0;
	st->top.hits = palloc(sizeof(SearchHit) * k);
	return st;
}

/* Offer hits found by another participant of a parallel scan to the top k. */
void
search_scan_offer(SearchScan *st, const SearchHit *hits, int n)
{
	for (int i = 0; i < n; i++)
		if (topk_wants(&st->top, hits[i].score, hits[i].summary_id))
			topk_add(&st->top, hits[i].score, hits[i].summary_id);
}

/*
 * End a scan: the top k in *hits (in no particular order; allocated in the
 * context of search_scan_begin()), and their number.
 */
int
search_scan_end(SearchScan *st, SearchHit **hits)
{
	MemoryContextDelete(st->row_context);
	*hits = st->top.hits;
	return st->top.n;
}

/*
 * Run the exact top-k cosine search over the live summaries matching
 * "filter".  Returns the hits best first in *hits (palloc'd in the current
 * context) and their number.  Takes AccessShareLock on osv.summaries (and
 * the index it uses) until the end of the transaction.  A sequential scan
 * of a large enough table is shared with parallel workers when allowed
 * (parallel_scan.c), with the same result.
 */
static int
search_embedded(ArrayType *query, double query_norm, int k,
				const SearchFilter *filter, SearchHit **hits)
{
	Oid			relid;
	Relation	rel;
	AclResult	aclresult;
	SearchScan *st;
	Snapshot	snapshot = GetActiveSnapshot();
	Oid			indexoid;
	BlockSource src;
	uint32		max_blocks;
	int			nworkers;
	int			nhits;

	relid = RangeVarGetRelid(makeRangeVar("osv", "summaries", -1),
							 AccessShareLock, false);
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, "summaries");
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the embedded search does not support row-level security on table \"osv.summaries\""),
				 errhint("Search as a role to which the table's policies do not apply.")));

	rel = table_open(relid, NoLock);
	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the embedded search supports only the heap access method for table \"osv.summaries\"")));

	st = search_scan_begin(rel, (const float4 *) ARR_DATA_PTR(query),
						   ARR_DIMS(query)[0], query_norm, k, filter);
	memset(&src, 0, sizeof(src));
	src.nblocks = RelationGetNumberOfBlocks(rel);
	max_blocks = src.nblocks / INDEX_MAX_FRACTION;

	/*
	 * A user's memory, or one topic: read only the pages holding those rows,
	 * found through an index (the user's, which is the narrower, when both).
	 */
	if (max_blocks == 0)
		;						/* a table of a few pages: read it whole */
	else if (filter->has_user_id &&
			 OidIsValid(indexoid = first_key_index(rel, st->cols.user_id)))
		src.blocks = index_blocks(rel, indexoid, F_INT8EQ, Int64GetDatum(filter->user_id),
								  snapshot, max_blocks, &src.nblocks);
	else if (filter->has_topic &&
			 OidIsValid(indexoid = first_key_index(rel, st->cols.topic)))
		src.blocks = index_blocks(rel, indexoid, F_TEXTEQ, PointerGetDatum(filter->topic),
								  snapshot, max_blocks, &src.nblocks);

#ifdef OSV_BENCH_SCAN_LOOP
	if (src.blocks == NULL && bench_scan_tableam())
		scan_heap_tableam(st, rel, snapshot);
	else
#endif
	if (src.blocks == NULL && (nworkers = parallel_scan_workers(rel)) > 0)
		parallel_scan(st, rel, snapshot, nworkers, st->query, st->dims,
					  query_norm, k, filter);
	else
		scan_heap(st, rel, snapshot, &src);

	table_close(rel, NoLock);
	nhits = search_scan_end(st, hits);
	qsort(*hits, nhits, sizeof(SearchHit), hit_cmp);
	return nhits;
}

/* Argument argno as int64 into *value; false when it is NULL. */
static bool
optional_int64(FunctionCallInfo fcinfo, int argno, int64 *value)
{
	if (PG_ARGISNULL(argno))
		return false;
	*value = PG_GETARG_INT64(argno);
	return true;
}

/*
 * osv.search_embedded(query real[], k integer, user_id bigint,
 *					   topic text, exclude_summary_id bigint,
 *					   exclude_user_id bigint)
 * RETURNS TABLE (summary_id bigint, score real)
 *
 * The embedded mode's search.  NULL filters do not filter; query and k
 * must not be NULL.
 */
PG_FUNCTION_INFO_V1(osv_search_embedded);
Datum
osv_search_embedded(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *query;
	double		query_norm;
	SearchFilter filter;
	SearchHit  *hits;
	int			nhits;
	int32		k;

	query_norm = vector_check_query_argument(fcinfo, 0, &query);
	k = vector_check_k(fcinfo, 1);

	memset(&filter, 0, sizeof(filter));
	filter.has_user_id = optional_int64(fcinfo, 2, &filter.user_id);
	filter.has_exclude_summary_id = optional_int64(fcinfo, 4, &filter.exclude_summary_id);
	filter.has_exclude_user_id = optional_int64(fcinfo, 5, &filter.exclude_user_id);
	if (!PG_ARGISNULL(3))
	{
		filter.has_topic = true;
		filter.topic = PG_GETARG_TEXT_PP(3);
	}

	InitMaterializedSRF(fcinfo, 0);
	nhits = search_embedded(query, query_norm, k, &filter, &hits);
	for (int i = 0; i < nhits; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(hits[i].summary_id);
		values[1] = Float4GetDatum(hits[i].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
