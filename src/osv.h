/*-------------------------------------------------------------------------
 *
 * osv.h
 *		Shared memory of osv: where the vector sync workers' latches are.
 *
 * The struct lives in the main shared memory segment (osv.c) and exists
 * only when osv is preloaded; without it, every function here does
 * nothing.  Backends wake the worker at commit (outbox.c); the worker
 * publishes itself at start (sync_worker.c).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/osv.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_H
#define OSV_H

#include "datatype/timestamp.h"

/* Whether the shared memory exists (osv is preloaded). */
extern bool osv_shmem_attached(void);

/* Publish the calling process as vector sync worker "index", until it exits. */
extern void osv_shmem_publish_sync_worker(int index);

/* Set the latch of vector sync worker 0 (of every worker when 0 does not run). */
extern void osv_shmem_wake_sync_worker(void);

/* Set the latches of the vector sync workers other than "self". */
extern void osv_shmem_wake_sync_pool(int self);

/* Count a search answered by the in-database scan; read the count. */
extern void osv_shmem_count_search_fallback(void);
extern bool osv_shmem_search_fallbacks(uint64 *count, TimestampTz *last);

#endif							/* OSV_H */
