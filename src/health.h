/*-------------------------------------------------------------------------
 *
 * health.h
 *		Liveness of osv's background workers, published in shared memory.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/health.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_HEALTH_H
#define OSV_HEALTH_H

/* osv's static background workers, in the order osv.worker_status() shows. */
typedef enum OsvWorkerKind
{
	OSV_WORKER_VECTOR_SYNC = 0,
	OSV_WORKER_SCHEDULER,
	OSV_NUM_WORKERS
} OsvWorkerKind;

/* Shared memory (osv.c calls these from its hooks). */
extern Size health_shmem_size(void);
extern void health_shmem_init(void);

/* A worker publishes itself at start, until it exits. */
extern void health_worker_start(OsvWorkerKind kind);

/*
 * The worker's state: a short phrase of the list in README ("idle",
 * "draining", "backing off", ...), a string constant.  Sets the heartbeat.
 */
extern void health_set_state(const char *state);

/*
 * A heartbeat: the worker is alive now and, when next_ms >= 0, promises
 * the next one within next_ms (it sleeps that long at most); -1: it is
 * working and promises nothing.  Cheap: a spinlock and a few stores.
 */
extern void health_heartbeat(long next_ms);

#endif							/* OSV_HEALTH_H */
