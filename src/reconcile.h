/*-------------------------------------------------------------------------
 *
 * reconcile.h
 *		The streamed reconcile of Qdrant with the summaries.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/reconcile.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_RECONCILE_H
#define OSV_RECONCILE_H

#include "datatype/timestamp.h"

#include "qdrant.h"

/* Points per page of a reconcile's scroll. */
#define RECONCILE_PAGE 1000

/*
 * A reconcile in progress: where the next page starts and what it found so
 * far.  Nothing else is kept between pages, so memory stays one page.
 */
typedef struct VsReconcile
{
	bool		has_offset;		/* the next page starts at offset (else at
								 * the first point) */
	int64		offset;
	bool		done;			/* the last page was compared */
	int64		pages;
	int64		scrolled;		/* points read from Qdrant */
	int64		orphaned;		/* points without a live summary: enqueued,
								 * to be deleted */
	int64		stale;			/* points whose content differs: enqueued,
								 * to be upserted */
	int64		missing;		/* live summaries without a point: enqueued,
								 * to be upserted */
} VsReconcile;

extern void reconcile_start(VsReconcile *rc);
extern bool reconcile_fetch(VsReconcile *rc, QdrantScrollPage *page,
							QdrantError *err);
extern uint64 reconcile_apply(VsReconcile *rc, const QdrantScrollPage *page);
extern int64 reconcile_fixed(const VsReconcile *rc);
extern int64 reconcile_run_job(MemoryContext page_cxt);
extern TimestampTz reconcile_next_run(void);

#endif							/* OSV_RECONCILE_H */
