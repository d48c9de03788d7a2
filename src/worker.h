/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The skeleton shared by osv's background workers.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_WORKER_H
#define OSV_WORKER_H

/*
 * Seconds before the postmaster restarts a worker that exited (a crash, a
 * FATAL), and before a worker tries again after an ERROR it survived:
 * long enough that a poison row cannot make a hot loop, short enough that
 * an outage does not hide.
 */
#define OSV_WORKER_RESTART_TIME 10

/* Entry points, named in the registrations of osv.c. */
PGDLLEXPORT void osv_vector_sync_main(Datum main_arg) pg_attribute_noreturn();
PGDLLEXPORT void osv_scheduler_main(Datum main_arg) pg_attribute_noreturn();

extern MemoryContext osv_worker_start(const char *name);
extern bool osv_worker_wait(long timeout_ms);
extern bool osv_worker_run(MemoryContext loop_cxt, void (*step) (void *arg),
						   void *arg);
extern void osv_worker_transaction_begin(const char *activity);
extern void osv_worker_transaction_end(void);

#endif							/* OSV_WORKER_H */
