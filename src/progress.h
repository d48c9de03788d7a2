/*-------------------------------------------------------------------------
 *
 * progress.h
 *		Progress of long work (backfill, reconcile, archive, purge), in
 *		shared memory slots that osv.progress shows.
 *
 * A process begins a piece of work of a kind, advances it and ends it;
 * one slot per process and kind.  Without shared memory (osv not
 * preloaded) or with every slot taken, the calls do nothing: progress is
 * for watching, never a reason to fail the work.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/progress.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_PROGRESS_H
#define OSV_PROGRESS_H

/* Shared memory (osv.c calls these from its hooks). */
extern Size progress_shmem_size(void);
extern void progress_shmem_init(void);

/*
 * Begin (or begin again) the work "kind" of this process: "detail" (may
 * be NULL) says what it works on, "total" how many units it has to do (-1
 * unknown), "estimated" whether that total is an estimate.
 */
extern void osv_progress_begin(const char *kind, const char *detail,
							   int64 total, bool estimated);

/*
 * The same, for work that a pool of processes shares (the vector sync
 * workers' backfill): the slot is this process's, and the others of the
 * pool advance it with osv_progress_advance_shared().  It ends with the
 * process that began it.
 */
extern void osv_progress_begin_shared(const char *kind, const char *detail,
									  int64 total, bool estimated);

/* n more units done. */
extern void osv_progress_advance(const char *kind, int64 n);

/*
 * n more units done of "kind", in this process's slot or else in the
 * slot another process began shared (never one begun from SQL).
 */
extern void osv_progress_advance_shared(const char *kind, int64 n);

/* The work is over (or abandoned): its slot is free again. */
extern void osv_progress_end(const char *kind);

/* Whether this process has work of "kind" in progress. */
extern bool osv_progress_active(const char *kind);

#endif							/* OSV_PROGRESS_H */
