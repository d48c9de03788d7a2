/*-------------------------------------------------------------------------
 *
 * vector_sync.h
 *		Outbox of summary changes and its sync to Qdrant.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/vector_sync.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef OSV_VECTOR_SYNC_H
#define OSV_VECTOR_SYNC_H

extern Size vector_sync_shmem_size(void);
extern void vector_sync_shmem_init(void);

PGDLLEXPORT void osv_vector_sync_main(Datum main_arg) pg_attribute_noreturn();

#endif							/* OSV_VECTOR_SYNC_H */
