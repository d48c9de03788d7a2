/*-------------------------------------------------------------------------
 *
 * storage_sync.h
 *		Deletion queue of object storage, erasure ledger copies and
 *		pending Qdrant sweeps of erasures.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/storage_sync.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_STORAGE_SYNC_H
#define OSV_STORAGE_SYNC_H

/* Settings of the storage sync (reloadable). */
extern char *osv_erasure_ledger_bucket;
extern int	osv_storage_sync_batch_size;
extern int	osv_storage_sync_backoff;
extern int	osv_storage_sync_backoff_max;
extern int	osv_s3_delete_batch_size;

/* Define the object storage and storage sync settings (from _PG_init). */
extern void storage_sync_define_settings(void);

/*
 * One round of the sync worker: claim (a transaction of its own), send
 * (none open), record (another).  Outside any transaction.  Returns how
 * long the worker may sleep as far as the storage queues go, 0 when more
 * is due at once.
 */
extern long storage_sync_worker_round(MemoryContext loop_cxt);

#endif							/* OSV_STORAGE_SYNC_H */
